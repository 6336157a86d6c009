"""``alveary keys`` and ``alveary audit``: manage API keys, check the audit log."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import alveary

from ._audit import verify
from ._keys import KeyStore


def keys_command(argv: Sequence[str]) -> int:
    """Manage API keys: create NAME --role ROLE, list, revoke NAME."""
    parser = argparse.ArgumentParser(
        prog="alveary keys", description="Manage API keys.", parents=[_where(None)]
    )
    sub = parser.add_subparsers(dest="action", required=True)
    # --file and --config after the action too; there, absent leaves the value given before
    where = _where(argparse.SUPPRESS)
    create = sub.add_parser("create", help="create a key and print it, once", parents=[where])
    create.add_argument("name")
    create.add_argument("--role", required=True)
    sub.add_parser("list", help="list keys (names, roles, ids; never the keys)", parents=[where])
    revoke = sub.add_parser(
        "revoke", help="remove a key: it stops working at once", parents=[where]
    )
    revoke.add_argument("name")
    args = parser.parse_args(argv)
    # The config speaks for the keys when it is named, or when it says where they are: then
    # it must be readable, and a new key's role must be one of its roles.
    relevant = args.config is not None or args.file is None
    try:
        settings = _settings(args.config) if relevant else {}
    except alveary.ConfigError as exc:
        print(f"alveary keys: {exc}", file=sys.stderr)
        return 2
    path = args.file or settings.get("keys_file")
    if not path:
        print("alveary keys: no keys file: pass --file or set keys_file", file=sys.stderr)
        return 2
    roles = settings.get("roles")
    if args.action == "create" and isinstance(roles, dict) and args.role not in roles:
        known = ", ".join(sorted(roles)) or "none"
        print(
            f"alveary keys: no role {args.role!r} in [plugins.security.roles] "
            f"(roles: {known}): a key with it could do nothing",
            file=sys.stderr,
        )
        return 2
    store = KeyStore(str(path))
    try:
        if args.action == "create":
            key = store.create(args.name, args.role)
            print(key)
            print(
                f"key {args.name!r} (role {args.role}): shown once, store it now", file=sys.stderr
            )
        elif args.action == "revoke":
            if not store.revoke(args.name):
                print(f"alveary keys: no key named {args.name!r}", file=sys.stderr)
                return 1
            print(f"revoked {args.name!r}")
        else:
            store.refresh()
            if store.broken:
                raise OSError(store.broken)
            for k in store.listed():
                created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(k.created))
                print(f"{k.name:20} {k.role:16} alv_{k.id}_...  {created} UTC")
    except (OSError, ValueError) as exc:
        print(f"alveary keys: {exc}", file=sys.stderr)
        return 2
    return 0


def audit_command(argv: Sequence[str]) -> int:
    """Verify an audit log: status 0 when its chain holds.

    Status 1 names the first entry altered, removed or reordered."""
    parser = argparse.ArgumentParser(prog="alveary audit", description="Check the audit log.")
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("verify", help="check the hash chain of an audit log")
    check.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        count, problem = verify(args.file)
    except OSError as exc:
        print(f"alveary audit: {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    if problem:
        print(f"{args.file}: {problem}")
        return 1
    print(f"{args.file}: {count} entries, chain intact")
    return 0


def _where(default: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--file",
        default=default,
        help="the keys file (default: keys_file of [plugins.security] in the config)",
    )
    parser.add_argument(
        "--config", default=default, help="the config to read keys_file and roles from"
    )
    return parser


def _settings(config: str | None) -> dict[str, Any]:
    """``[plugins.security]`` of the config (``{}`` without one); ``ConfigError`` when it
    cannot be read."""
    import alveary._config

    settings = alveary._config.load(config).plugin_settings.get("security", {})
    return dict(settings) if isinstance(settings, dict) else {}
