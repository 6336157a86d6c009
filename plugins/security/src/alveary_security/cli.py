"""``alveary keys`` and ``alveary audit``: manage API keys, check the audit log."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ._audit import verify
from ._keys import KeyStore


def keys_command(argv: Sequence[str]) -> int:
    """Manage API keys: create NAME --role ROLE, list, revoke NAME."""
    parser = argparse.ArgumentParser(prog="alveary keys", description="Manage API keys.")
    parser.add_argument(
        "--file",
        default=None,
        help="the keys file (default: keys_file of [plugins.security] in the config)",
    )
    parser.add_argument("--config", default=None, help="the config to read keys_file from")
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="create a key and print it, once")
    create.add_argument("name")
    create.add_argument("--role", required=True)
    sub.add_parser("list", help="list keys (names, roles, ids; never the keys)")
    revoke = sub.add_parser("revoke", help="remove a key: it stops working at once")
    revoke.add_argument("name")
    args = parser.parse_args(argv)
    path = args.file or _configured(args.config)
    if path is None:
        print("alveary keys: no keys file: pass --file or set keys_file", file=sys.stderr)
        return 2
    store = KeyStore(path)
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


def _configured(config: str | None) -> str | None:
    """``keys_file`` of ``[plugins.security]`` in the config, if there is one."""
    import alveary._config

    try:
        settings = alveary._config.load(config).plugin_settings.get("security", {})
    except alveary.ConfigError:
        return None
    return str(settings["keys_file"]) if settings.get("keys_file") else None
