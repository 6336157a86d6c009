"""Verified credentials are reused briefly: never past a token's ``exp``, never once the keys
they were checked against are read again (a revoked key, a withdrawn signing key), and never
stored as the secret itself."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alveary import Denied, Orchestrator, Principal, TaskSpec
from alveary_security import KeyStore
from alveary_security._verified import Verified

from .conftest import bearer, hs256

SAM = Principal("sam", frozenset({"submitter"}))


def test_entries_expire_follow_their_keys_and_hold_no_secret() -> None:
    now, wall = [0.0], [1000.0]
    cache = Verified(10, 2, clock=lambda: now[0], wall=lambda: wall[0])
    keys, rotated = object(), object()
    cache.put("alv_secret", keys, SAM)
    assert cache.get("alv_secret", keys) == SAM
    assert cache.get("alv_secret", rotated) is None  # read again: verify again
    assert cache.get("alv_other", keys) is None
    assert all(b"alv_secret" not in digest for digest in cache._entries)
    cache.put("token", keys, SAM, expires=1003.0)  # exp in 3 s: kept 3 s, not 10
    now[0] = 3.5
    assert cache.get("token", keys) is None
    assert cache.get("alv_secret", keys) == SAM
    cache.put("expired", keys, SAM, expires=999.0)
    assert cache.get("expired", keys) is None
    cache.put("a", keys, SAM)
    cache.put("b", keys, SAM)  # over size: the oldest goes
    assert len(cache._entries) == 2
    now[0] = 20
    assert cache.get("a", keys) is None


def test_a_ttl_of_zero_checks_every_request() -> None:
    cache = Verified(0, 10)
    keys = object()
    cache.put("alv_secret", keys, SAM)
    assert cache.get("alv_secret", keys) is None


def corrupt(path: str) -> None:
    Path(path).write_text("{")


async def test_a_revoked_key_is_refused_at_the_next_tick_though_it_was_just_used(
    settings: dict[str, Any],
) -> None:
    store = KeyStore(settings["keys_file"])
    key = store.create("ci", "operator")
    data = {"orchestrator": {"tick_interval": 0.05}, "plugins": {"enabled": ["security"]}}
    data["plugins"]["security"] = {**settings, "verified_ttl": 3600.0}
    async with Orchestrator.from_config(data) as orch:
        for _ in range(3):  # the second and third come from the cache
            await orch.submit(TaskSpec("echo"), credentials={"x-api-key": key})
        await orch.submit(TaskSpec("echo"), credentials=bearer(hs256()))
        assert store.revoke("ci")
        await asyncio.sleep(0.3)
        with pytest.raises(Denied, match="unknown or revoked API key"):
            await orch.submit(TaskSpec("echo"), credentials={"x-api-key": key})
        corrupt(settings["keys_file"])  # broken: refused, cached or not
        await asyncio.sleep(0.3)
        with pytest.raises(Denied, match="keys file unreadable"):
            await orch.submit(TaskSpec("echo"), credentials={"x-api-key": key})
