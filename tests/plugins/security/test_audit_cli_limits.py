"""The audit chain against tampering, the CLI in-process, rate limits, config checks, and the
plugin failing: every request denied while it is down."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from alveary import Denied, Orchestrator, Principal, TaskSpec, hookimpl, structure
from alveary._cli import main
from alveary_security import AuditLog, Config, Limited, Security, verify
from alveary_security._limits import Buckets
from alveary_security._policy import Policy

from .conftest import ROLES, bearer, hs256


def written(path: Path, n: int = 5) -> list[str]:
    log = AuditLog(str(path))
    for i in range(n):
        log.record("modification", "allowed", principal=f"p{i}", action="task.submit")
    log.flush()
    return path.read_text().splitlines(keepends=True)


@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        (lambda ls: [*ls[:2], ls[2].replace("p2", "px"), *ls[3:]], "line 3: entry 2 was altered"),
        (lambda ls: [*ls[:2], *ls[3:]], "line 3: entry 2 was removed"),
        (lambda ls: ls[1:], "line 1: entry 0 was removed"),
        (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], "line 2: entry 2 is out of order"),
        (lambda ls: [*ls[:4], "{}\n"], "line 5: entry 4 was altered"),
    ],
)
def test_verify_names_the_first_entry_tampered_with(
    tmp_path: Path, tamper: Any, found: str
) -> None:
    path = tmp_path / "audit.jsonl"
    lines = written(path)
    assert main(["audit", "verify", str(path)]) == 0
    path.write_text("".join(tamper(lines)))
    assert verify(path)[1].startswith(found)
    assert main(["audit", "verify", str(path)]) == 1


def test_a_rewritten_entry_with_a_fresh_hash_breaks_the_next_link(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = written(path)
    entry = json.loads(lines[1])
    entry["principal"] = "mallory"
    from alveary_security._audit import entry_hash

    entry["hash"] = entry_hash(entry)
    lines[1] = json.dumps(entry) + "\n"
    path.write_text("".join(lines))
    assert verify(path)[1] == "line 3: entry 2 does not follow the entry before it"


def test_the_chain_continues_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    written(path, 3)
    written(path, 3)
    assert verify(path) == (6, "")


def test_keys_cli_creates_lists_and_revokes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = str(tmp_path / "keys.json")
    assert main(["keys", "--file", keys, "create", "ci", "--role", "submitter"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("alv_")
    assert key not in (tmp_path / "keys.json").read_text()
    assert main(["keys", "--file", keys, "create", "ci", "--role", "submitter"]) == 2
    assert main(["keys", "--file", keys, "list"]) == 0
    listed = capsys.readouterr().out
    assert "ci" in listed
    assert "submitter" in listed
    assert key not in listed
    assert main(["keys", "--file", keys, "revoke", "ci"]) == 0
    assert main(["keys", "--file", keys, "revoke", "ci"]) == 1


def test_keys_cli_reads_the_config_named_before_or_after_the_action(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "secured.toml"
    config.write_text(
        '[plugins.security]\nkeys_file = "keys.json"\n\n'
        '[plugins.security.roles.submitter]\nallow = ["task.submit"]\n'
    )
    monkeypatch.chdir(tmp_path)
    assert main(["keys", "create", "ci", "--role", "submitter", "--config", str(config)]) == 0
    assert main(["keys", "--config", str(config), "create", "cd", "--role", "submitter"]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--config", str(config)]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["cd", "ci"]

    assert main(["keys", "create", "x", "--role", "admin", "--config", str(config)]) == 2
    assert capsys.readouterr().err == (
        "alveary keys: no role 'admin' in [plugins.security.roles] (roles: submitter): "
        "a key with it could do nothing\n"
    )
    assert main(["keys", "list", "--config", "missing.toml"]) == 2
    assert capsys.readouterr().err == "alveary keys: missing.toml: no such file\n"
    # --file alone: the config of this directory does not speak for that file's keys
    (tmp_path / "alveary.toml").write_text(config.read_text())
    assert main(["keys", "--file", "other.json", "create", "x", "--role", "admin"]) == 0
    (tmp_path / "alveary.toml").write_text("[plugins\n")
    assert main(["keys", "--file", "other.json", "list"]) == 0
    capsys.readouterr()
    assert main(["keys", "list"]) == 2  # then it alone could say where the keys are
    assert capsys.readouterr().err.startswith("alveary keys: alveary.toml:1: invalid TOML")


def test_buckets_refill_and_say_how_long_to_wait() -> None:
    now = [0.0]
    buckets = Buckets(rate=2.0, capacity=3, keys=2, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    now[0] = 0.5
    assert buckets.take("a") == 0.0
    buckets.take("b")
    buckets.take("c")  # over ``keys``: the bucket used longest ago ("a") is dropped
    assert buckets.wait("a") == 0.0


def settings_with(settings: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "orchestrator": {"tick_interval": 0.05, "hook_timeout": 0.05, "max_failures": 2},
        "plugins": {"enabled": ["security"], "security": {**settings, **changes}},
    }


async def test_failed_authentications_per_client_are_limited(settings: dict[str, Any]) -> None:
    limits = {"failures": 3, "failure_window": 3600.0}
    async with Orchestrator.from_config(settings_with(settings, limits=limits)) as orch:
        forged = {**bearer("x.y.z"), "client": "10.0.0.9"}
        for _ in range(3):
            with pytest.raises(Denied, match="not authenticated"):
                await orch.submit(TaskSpec("echo"), credentials=forged)
        good = {**bearer(hs256()), "client": "10.0.0.9"}
        with pytest.raises(Limited, match="retry after 1200 s") as limited:
            await orch.submit(TaskSpec("echo"), credentials=good)
        assert limited.value.retry_after == pytest.approx(1200, abs=1)
        await orch.submit(TaskSpec("echo"), credentials={**good, "client": "10.0.0.10"})


async def test_requests_per_principal_are_limited(settings: dict[str, Any]) -> None:
    limits = {"rate": 1.0, "burst": 2}
    async with Orchestrator.from_config(settings_with(settings, limits=limits)) as orch:
        good = bearer(hs256())
        await orch.submit(TaskSpec("echo"), credentials=good)
        await orch.submit(TaskSpec("echo"), credentials=good)
        with pytest.raises(Limited, match="request rate of alice exceeded; retry after 1 s"):
            await orch.submit(TaskSpec("echo"), credentials=good)


async def test_an_unreadable_keys_file_denies_every_key_while_it_is_down(
    settings: dict[str, Any],
) -> None:
    from alveary_security import KeyStore

    key = KeyStore(settings["keys_file"]).create("ci", "operator")
    async with Orchestrator.from_config(settings_with(settings)) as orch:
        await orch.submit(TaskSpec("echo"), credentials={"x-api-key": key})
        _write(settings["keys_file"], "{not json")
        await _ticks()
        with pytest.raises(Denied, match=r"keys file unreadable \(JSONDecodeError\)"):
            await orch.submit(TaskSpec("echo"), credentials={"x-api-key": key})
        _write(settings["keys_file"], '{"keys": []}')
        await _ticks()
        with pytest.raises(Denied, match="unknown or revoked API key"):
            await orch.submit(TaskSpec("echo"), credentials={"x-api-key": key})


class Raising(Security):
    """The real plugin, with its authorization broken the way a lost policy store would."""

    name = "security"

    @hookimpl
    def alveary_authorize(self, principal: Principal, action: str, resource: str) -> bool:
        raise OSError("policy store down")


class Overrunning(Security):
    """The real plugin, with authorization slower than the hook budget."""

    name = "security"

    @hookimpl
    def alveary_authorize(self, principal: Principal, action: str, resource: str) -> bool:
        time.sleep(0.1)
        return True


@pytest.mark.parametrize("plugin", [Raising, Overrunning])
async def test_the_plugin_failing_denies_until_and_after_it_is_disabled(
    settings: dict[str, Any], plugin: type[Security]
) -> None:
    security = plugin(structure(settings, Config))
    data = {"orchestrator": {"tick_interval": 0.05, "hook_timeout": 0.05, "max_failures": 2}}
    good = bearer(hs256())
    async with Orchestrator.from_config(data, [security]) as orch:
        for _ in range(3):
            with pytest.raises(Denied, match=r"the plugin failed|is disabled"):
                await orch.submit(TaskSpec("echo"), credentials=good)
        assert orch.metrics().disabled_plugins == ("security",)
        with pytest.raises(Denied, match="is disabled"):
            await orch.submit(TaskSpec("echo"), credentials=good)


def test_cached_decisions_expire_and_the_cache_is_bounded() -> None:
    now = [0.0]
    policy = Policy(structure_roles(), ttl=10, size=2, clock=lambda: now[0])
    sam = Principal("sam", frozenset({"submitter"}))
    assert policy.missing(sam, "task.submit", "echo") == ""
    policy.roles.clear()
    assert policy.missing(sam, "task.submit", "echo") == ""  # cached
    now[0] = 11
    assert "no role of sam is defined" in policy.missing(sam, "task.submit", "echo")
    for kind in "abc":
        policy.missing(sam, "task.submit", kind)
    assert len(policy._cache) == 2


def structure_roles() -> dict[str, Any]:
    return structure({"roles": ROLES}, Config).roles


def test_check_config_names_bad_roles_and_missing_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = """
[plugins]
enabled = ["security"]

[plugins.security]
keys_file = "keys.json"

[plugins.security.jwt]
public_key_file = "missing.pem"
secret_env = "X"

[plugins.security.roles.ops]
allow = ["task.sumbit"]

[plugins.security.roles.watcher]
allow = ["events.read", "task.read"]
capabilities = ["review"]

[plugins.security.roles.everything]
allow = ["events.read", "pool.read"]
capabilities = ["r*", "*"]
"""
    (tmp_path / "alveary.toml").write_text(text)
    (tmp_path / "keys.json").write_text(
        json.dumps({"keys": [{"name": "k", "id": "1", "role": "ghost", "hash": "h", "created": 0}]})
    )
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--config", "alveary.toml"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert any(
        "plugins.security.roles.ops.allow: unknown action 'task.sumbit'" in ln for ln in lines
    )
    assert any("plugins.security.jwt: set exactly one of" in ln for ln in lines)
    assert any("jwt.public_key_file: no such file: missing.pem" in ln for ln in lines)
    assert any("key 'k' has role 'ghost', which is not defined" in ln for ln in lines)
    assert any(
        ln.endswith(
            ":16: plugins.security.roles.watcher.allow: events.read is over every resource "
            "('*'), which capabilities review never match: it grants nothing; give it to a "
            "role without capabilities"
        )
        for ln in lines
    )
    assert not any("roles.everything" in ln for ln in lines)


def _write(path: str, text: str) -> None:
    Path(path).write_text(text)


async def _ticks() -> None:
    import asyncio

    await asyncio.sleep(0.2)


def test_a_line_cut_short_by_a_crash_is_named_and_the_next_run_goes_on_from_before_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    lines = written(path, 3)
    cut = lines[-1][: len(lines[-1]) // 2]  # as if the process died in the middle of the write
    path.write_text("".join(lines[:-1]) + cut)
    assert verify(path)[1] == (
        "line 3: the last entry is incomplete (cut short while it was written: a crash, or "
        "the log is being written now); the 2 before it hold"
    )
    assert main(["audit", "verify", str(path)]) == 1
    assert "incomplete" in capsys.readouterr().out
    log = AuditLog(str(path))  # the next run
    log.record("modification", "allowed", principal="p9", action="task.submit")
    log.flush()
    assert verify(path) == (4, "")
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert entries[2]["event"] == "audit.torn"
    assert entries[2]["text"] == cut
    assert entries[2]["bytes"] == len(cut.encode())
    assert [e["seq"] for e in entries] == [0, 1, 2, 3]


def test_a_log_that_is_one_torn_line_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"seq": 0, "ti')
    log = AuditLog(str(path))
    log.flush()
    assert verify(path) == (1, "")


def test_a_last_line_that_is_no_entry_refuses_to_go_on(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = written(path, 2)
    path.write_text("".join(lines) + '["not", "an entry"]\n')
    with pytest.raises(ValueError, match="its last line is not an audit entry"):
        AuditLog(str(path))
