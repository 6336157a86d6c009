"""What ``alveary check`` says about ``[plugins.security]``: what its attrs classes cannot see
alone. It looks at the files the settings name (whether they exist, the roles of stored
keys), since a missing key file is what an operator most needs to hear about before start."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import alveary

from ._config import Config

_KEY = ("plugins", "security")
_OVER_ALL = ("pool.read", "events.read")
"""Actions whose resource is always ``*``: a role's capabilities that do not match ``*`` make
them grant nothing."""


def problems(config: Config, whole: alveary.Config) -> list[str]:
    """One line per problem, naming the file, line and key."""
    found: list[tuple[tuple[str, ...], str]] = []
    if not config.roles:
        found.append(((*_KEY, "roles"), "no roles are defined: every action would be denied"))
    for name, role in config.roles.items():
        for action in role.allow:
            if not action.endswith("*") and action not in alveary.ACTIONS:
                known = ", ".join(alveary.ACTIONS)
                found.append(
                    ((*_KEY, "roles", name, "allow"), f"unknown action {action!r} ({known})")
                )
            elif (
                action in _OVER_ALL
                and role.capabilities
                and not any(fnmatchcase("*", c) for c in role.capabilities)
            ):
                found.append(
                    (
                        (*_KEY, "roles", name, "allow"),
                        f"{action} is over every resource ('*'), which capabilities "
                        f"{', '.join(role.capabilities)} never match: it grants nothing; give "
                        "it to a role without capabilities",
                    )
                )
    jwt = config.jwt
    if jwt is not None:
        if len(jwt.sources) != 1:
            found.append(
                (
                    (*_KEY, "jwt"),
                    "set exactly one of secret_env, secret_file, public_key_file, jwks_file",
                )
            )
        for setting in ("secret_file", "public_key_file", "jwks_file"):
            path = getattr(jwt, setting)
            if path and not Path(path).is_file():
                found.append(((*_KEY, "jwt", setting), f"no such file: {path}"))
    if not (config.keys_file or jwt):
        found.append(
            (_KEY, "neither keys_file nor [plugins.security.jwt]: nobody can authenticate")
        )
    found.extend(((*_KEY, "keys_file"), line) for line in _stored_roles(config))
    return [whole.source.error(key, message) for key, message in found]


def _stored_roles(config: Config) -> list[str]:
    """Keys in the keys file whose role is not defined."""
    path = Path(config.keys_file)
    if not config.keys_file or not path.exists():
        return []
    try:
        keys: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["keys"]
    except (OSError, ValueError, KeyError) as exc:
        return [f"{path} is unreadable ({type(exc).__name__})"]
    return [
        f"key {k.get('name')!r} has role {k.get('role')!r}, which is not defined"
        for k in keys
        if k.get("role") not in config.roles
    ]
