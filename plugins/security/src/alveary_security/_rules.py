"""Rules of the command guard, as data: what a dangerous command looks like, how risky it is.

A rule's conditions all hold for a command to match. Patterns are globs in which ``*`` and
``?`` stop at ``/``, ``**`` does not, ``{a,b}`` is either; ``re:`` starts a regular expression
instead. Each matches a whole word.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
from alveary import FieldError
from alveary.validators import name

RISKS = ("low", "medium", "high", "critical")
"""Risk levels, least first."""
RANK = {risk: n for n, risk in enumerate(RISKS, 1)}
ACTIONS = ("allow", "log", "approve", "block")
"""What the guard does with a command: run it, run it and log it, ask first, refuse it."""


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression for a rule pattern; raises ``ValueError`` for a bad one."""
    if not pattern:
        raise ValueError("an empty pattern")
    if pattern.startswith("re:"):
        try:
            return re.compile(pattern[3:], re.DOTALL)
        except re.error as exc:
            raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "{":
            close = pattern.find("}", i)
            if close < 0:
                raise ValueError(f"bad pattern {pattern!r}: unclosed {{")
            choices = pattern[i + 1 : close].split(",")
            out.append(
                "(?:" + "|".join(compile_pattern(x).pattern if x else "" for x in choices) + ")"
            )
            i = close + 1
            continue
        elif c == "[":
            close = pattern.find("]", i + 2)
            if close < 0:
                raise ValueError(f"bad pattern {pattern!r}: unclosed [")
            inner = pattern[i + 1 : close]
            out.append(
                "[" + ("^" + inner[1:] if inner[0] == "!" else inner).replace("\\", "\\\\") + "]"
            )
            i = close + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _patterns(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for pattern in value:
        try:
            compile_pattern(pattern)
        except ValueError as exc:
            raise FieldError(attribute.name, str(exc)) from None


def _flags(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for entry in value:
        for flag in entry.split("|"):
            if not flag.startswith("-") or flag in ("-", "--"):
                raise FieldError(
                    attribute.name,
                    f"bad flag {flag!r} in {entry!r}: write -x, --long or -word, "
                    "alternatives separated by |",
                )


def risk(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    """Accept one of ``RISKS``."""
    if value not in RANK:
        raise FieldError(attribute.name, f"unknown risk {value!r} (expected {', '.join(RISKS)})")


_CONDITIONS = (
    "programs",
    "flags",
    "args",
    "all_args",
    "writes",
    "code_from",
    "outside_workspace",
    "fork_bomb",
    "unparsable",
)


@attrs.frozen
class Rule:
    """``[[plugins.security.commands.rules]]``: one kind of dangerous command. Every
    condition given must hold; a rule without a program applies to every command."""

    id: str = attrs.field(validator=name)
    risk: str = attrs.field(validator=risk)
    description: str = ""
    programs: tuple[str, ...] = attrs.field(default=(), validator=_patterns)
    """The program's name (without its directory) matches one of these."""
    flags: tuple[str, ...] = attrs.field(default=(), validator=_flags)
    """Each entry is given, as one of its ``|``-separated forms: ``-r`` also in a bundle
    (``-rf``), ``--recursive`` also abbreviated or with ``=value``, ``-delete`` or ``-1``
    as the whole word."""
    args: tuple[str, ...] = attrs.field(default=(), validator=_patterns)
    """Some operand (a word that is not an option; paths made lexical) matches one of these."""
    all_args: tuple[str, ...] = attrs.field(default=(), validator=_patterns)
    """Each of these matches some operand (``push`` for ``git push``)."""
    writes: tuple[str, ...] = attrs.field(default=(), validator=_patterns)
    """Some path the command writes (a redirection, ``tee``, ``cp``, ``rm``, ``dd of=``...)
    matches one of these."""
    code_from: tuple[str, ...] = attrs.field(default=(), validator=_patterns)
    """The command runs as code the output of a program matching one of these (``curl x |
    sh``, ``sh <(curl x)``, ``bash -c "$(curl x)"``); ``*`` for any program."""
    outside_workspace: bool = False
    """It writes a path outside the workspace (only checked when a workspace is given)."""
    fork_bomb: bool = False
    """It is a shell function that runs itself in a pipe or in the background."""
    unparsable: bool = False
    """The text cannot be parsed (an unclosed quote or parenthesis)."""

    def __attrs_post_init__(self) -> None:
        if not any(getattr(self, c) for c in _CONDITIONS):
            raise FieldError("id", f"rule {self.id!r} has no condition: it would match anything")


_ROOTS = ("/", "/[*]", "~", "~/[*]")
"""``/``, the home directory, and each with ``*`` (a literal star: what the shell globs)."""
_SYSTEM = "/{bin,boot,dev,etc,home,lib,lib32,lib64,opt,proc,root,run,sbin,srv,sys,usr,var}"
_SYSTEM_MORE = "/{usr/*,var/lib,System,Library,Applications,Users,private}"
_SYSTEM_DIRS = (_SYSTEM, f"{_SYSTEM}/*", _SYSTEM_MORE)
_DEVICES = (
    "/dev/{sd,hd,vd,xvd,nvme,mmcblk,disk,rdisk,dm-,md,loop,nbd,sr,fd}*",
    "/dev/{mapper,disk}/**",
    "/dev/{mem,kmem,port}",
)
_RECURSIVE = "-r|-R|--recursive"
_DOWNLOADERS = (
    "curl", "wget", "fetch", "aria2c", "http", "https", "xh", "lynx", "links", "w3m", "nc",
    "ncat", "netcat", "socat", "ftp", "tftp",
)  # fmt: skip
_MAIN = "{main,master}"


BUILTIN: tuple[Rule, ...] = (
    Rule("rm-root", "critical", "recursive delete of / or the home directory",
          programs=("rm",), flags=(_RECURSIVE,), args=_ROOTS),
    Rule("rm-system", "critical", "recursive delete of a system directory",
          programs=("rm",), flags=(_RECURSIVE,), args=_SYSTEM_DIRS),
    Rule("find-delete", "critical", "find -delete from / or a system directory",
          programs=("find",), flags=("-delete",), args=_ROOTS + _SYSTEM_DIRS),
    Rule("mkfs", "critical", "makes a file system, erasing a device",
          programs=("mkfs*", "mke2fs", "mkswap", "wipefs")),
    Rule("device-write", "critical", "writes to a disk or memory device (dd of=, >, cp, tee)",
          writes=_DEVICES),
    Rule("fork-bomb", "critical", "a function that runs itself in a pipe or in the background",
          fork_bomb=True),
    Rule("download-to-shell", "critical", "runs code downloaded from the network",
          code_from=_DOWNLOADERS),
    Rule("pipe-to-shell", "high", "a shell or interpreter runs code another command writes",
          code_from=("*",)),
    Rule("chmod-system", "critical", "recursive chmod of / or a system directory",
          programs=("chmod",), flags=(_RECURSIVE,), args=_ROOTS + _SYSTEM_DIRS),
    Rule("chown-system", "critical", "recursive chown of / or a system directory",
          programs=("chown", "chgrp"), flags=(_RECURSIVE,), args=_ROOTS + _SYSTEM_DIRS),
    Rule("accounts-write", "critical", "writes the account, password or sudo files",
          writes=("/etc/{passwd,shadow,group,gshadow,sudoers}", "/etc/sudoers.d/**")),
    Rule("kill-all", "critical", "signals every process the user may signal (pid -1)",
          programs=("kill",), args=("-1",)),
    Rule("shutdown", "high", "shuts down or restarts the machine",
          programs=("shutdown", "reboot", "halt", "poweroff")),
    Rule("shutdown-init", "high", "init 0 or 6: shuts down or restarts the machine",
          programs=("init", "telinit"), args=("0", "6")),
    Rule("shutdown-systemctl", "high", "systemctl shuts down or restarts the machine",
          programs=("systemctl",), args=("poweroff", "reboot", "halt", "kexec")),
    Rule("crontab-remove", "high", "crontab -r removes every cron job of the user",
          programs=("crontab",), flags=("-r",)),
    Rule("firewall-flush", "high", "removes every firewall rule",
          programs=("iptables*", "ip6tables*"), flags=("-F|--flush",)),
    Rule("firewall-flush-nft", "high", "nft flush ruleset removes every firewall rule",
          programs=("nft",), all_args=("flush", "ruleset")),
    Rule("git-force-push", "medium", "force-pushes main or master",
          programs=("git",), all_args=("push",), flags=("-f|--force|--force-with-lease",),
          args=(_MAIN, f"*:{_MAIN}", f"**refs/heads/{_MAIN}")),
    Rule("git-force-push-refspec", "medium", "force-pushes main or master (+refspec)",
          programs=("git",), all_args=("push",),
          args=(f"+{_MAIN}", f"+*:{_MAIN}", f"+**refs/heads/{_MAIN}")),
    Rule("history-clear", "medium", "clears the shell history",
          programs=("history",), flags=("-c",)),
    Rule("history-off", "medium", "turns shell history off",
          programs=("unset", "export"), args=("HISTFILE", "HISTFILE=**", "HIST{SIZE,FILESIZE}=0")),
    Rule("log-clear", "medium", "writes, truncates or deletes system logs or shell history",
          writes=("/var/log", "/var/log/**", "~/.*_history", "~/.*history")),
    Rule("journal-vacuum", "medium", "deletes the systemd journal",
          programs=("journalctl",), flags=("--vacuum-time|--vacuum-size|--vacuum-files",)),
    Rule("outside-workspace", "high", "writes outside the workspace",
          outside_workspace=True),
    Rule("unparsable", "high", "cannot be parsed (an unclosed quote or parenthesis)",
          unparsable=True),
)  # fmt: skip
"""The built-in rules, in the order the documentation lists them."""
