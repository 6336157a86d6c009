"""What the guard knows about programs: which run another command (``sudo``, ``env``,
``timeout 5``), which run code (shells, interpreters), which write which of their operands,
and which options take a value (so that the value is not taken for an operand)."""

from __future__ import annotations

import re

SHELLS = frozenset(
    {"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "yash", "posh", "rbash", "fish", "csh"}
    | {"tcsh", "busybox-sh"}
)
INTERPRETER = re.compile(r"(?:python|pypy|perl|ruby|php|lua|tclsh|node(?:js)?)[0-9.]*")
"""Programs that run a script file, or their standard input when given none."""
INLINE = frozenset({"-c", "-e", "-E", "-m", "-r", "-p", "--eval", "--print", "-"})
"""Interpreter options after which the code is on the command line, not on standard input
(``-`` names standard input explicitly; it is handled before this set is consulted)."""
SOURCES = frozenset({"eval", "source", "."})

_WRAPPED: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (
        frozenset(["-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-T", "-U"])
        | frozenset(
            [
                "--user",
                "--group",
                "--host",
                "--prompt",
                "--chdir",
                "--role",
                "--type",
                "--other-user",
            ]
        ),
        0,
    ),
    "doas": (frozenset({"-u", "-C"}), 0),
    "pkexec": (frozenset({"--user"}), 0),
    "runuser": (frozenset({"-u", "-g", "-G", "--user", "--group"}), 0),
    "env": (frozenset({"-u", "-C", "--unset", "--chdir"}), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "ionice": (frozenset({"-c", "-n", "-p", "-P", "-u", "--class", "--classdata"}), 0),
    "nohup": (frozenset(), 0),
    "setsid": (frozenset(), 0),
    "unbuffer": (frozenset(), 0),
    "builtin": (frozenset(), 0),
    "command": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "time": (frozenset({"-f", "-o", "--format", "--output"}), 0),
    "stdbuf": (frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}), 0),
    "timeout": (frozenset({"-s", "-k", "--signal", "--kill-after"}), 1),
    "taskset": (frozenset(), 1),
    "chroot": (frozenset({"--userspec", "--groups"}), 1),
    "flock": (frozenset({"-w", "-E", "--timeout", "--conflict-exit-code"}), 1),
    "xargs": (
        frozenset(
            [
                "-n",
                "-L",
                "-I",
                "-d",
                "-P",
                "-s",
                "-E",
                "-a",
                "--max-args",
                "--max-lines",
                "--delimiter",
            ]
        )
        | frozenset({"--max-procs", "--arg-file", "--replace"}),
        0,
    ),
    "busybox": (frozenset(), 0),
    "watch": (frozenset({"-n", "--interval"}), 0),
    "su": (frozenset({"-s", "-g", "-G", "--shell", "--group"}), 0),
}
"""Programs that run the command after their options: the options that take a value, and
how many words (a duration, a directory) come before the command."""

_SCRIPT_OPTIONS = {"env": ("-S", "--split-string"), "su": ("-c", "--command")}
"""Wrapper options whose value is a shell command line."""

VALUED: dict[str, frozenset[str]] = {
    "sed": frozenset({"-e", "-f", "-l", "--expression", "--file"}),
    "truncate": frozenset({"-s", "-r", "--size", "--reference"}),
    "cp": frozenset({"-t", "-S", "--target-directory", "--suffix"}),
    "mv": frozenset({"-t", "-S", "--target-directory", "--suffix"}),
    "ln": frozenset({"-t", "-S", "--target-directory", "--suffix"}),
    "install": frozenset({"-t", "-m", "-o", "-g", "-S", "--mode", "--owner", "--group"}),
    "git": frozenset({"-C", "-c", "--git-dir", "--work-tree", "-o", "--push-option"}),
    "kill": frozenset({"-s", "-n"}),
    "chown": frozenset({"--from", "--reference"}),
    "chmod": frozenset({"--reference"}),
    "shred": frozenset({"-n", "-s", "--iterations", "--size"}),
    "perl": frozenset({"-e", "-E", "-I"}),
    "crontab": frozenset({"-u"}),
    "iptables": frozenset({"-t", "--table"}),
    "ip6tables": frozenset({"-t", "--table"}),
}
"""Options that take the next word as their value, per program."""

WRITES: dict[str, str] = {
    **dict.fromkeys(("tee", "rm", "rmdir", "shred", "truncate", "touch", "unlink"), "all"),
    **dict.fromkeys(("mkdir", "wipefs"), "all"),
    **dict.fromkeys(("cp", "mv", "install", "ln", "rsync", "scp"), "last"),
    **dict.fromkeys(("chmod", "chown", "chgrp"), "rest"),
    **dict.fromkeys(("sed", "perl"), "in-place"),
    "dd": "of",
}
"""Which operands a program writes: all, the last (the destination), all but the first (a
mode or owner), the files after the script with ``-i``, or ``of=``."""


def wrapped(program: str, argv: list[str]) -> tuple[str, int] | None:
    """Where the command that ``program`` (a wrapper) runs starts in ``argv``: ``("argv",
    i)`` when it is the words from ``argv[i]`` on, ``("script", i)`` when ``argv[i]`` is a shell
    command line, ``("joined", i)`` when the words from ``i`` on, joined by spaces, are one;
    None when it runs nothing (``env`` alone, ``command -v``, ``su`` without ``-c``).
    ``--command=X`` leaves ``X`` alone in its place in ``argv``."""
    spec = _WRAPPED.get(program)
    if spec is None:
        return None
    valued, before = spec
    scripts = _SCRIPT_OPTIONS.get(program, ())
    i = 1
    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if program == "env" and "=" in word and not word.startswith("-"):
            i += 1
            continue
        if not word.startswith("-") or word == "-":
            if program == "su":  # the user
                i += 1
                continue
            break
        if word in scripts:
            return ("script", i + 1) if i + 1 < len(argv) else None
        for option in scripts:
            if option.startswith("--") and word.startswith(option + "="):
                argv[i] = word.partition("=")[2]  # the value, in the word itself
                return "script", i
        if program == "command" and word in ("-v", "-V"):
            return None
        i += 2 if word in valued else 1
    if program == "su":
        return None
    i += before
    if i >= len(argv):
        return None
    return ("joined", i) if program == "watch" else ("argv", i)


def is_wrapper(program: str) -> bool:
    return program in _WRAPPED
