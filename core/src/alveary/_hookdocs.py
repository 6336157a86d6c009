"""Generate ``docs/hooks.md``, the hook reference, from ``alveary.hookspecs``.

Run from the repository root::

    python -m alveary._hookdocs            # (re)write docs/hooks.md
    python -m alveary._hookdocs --check    # exit 1 if docs/hooks.md is out of date

Every function of ``alveary.hookspecs`` whose name starts with ``alveary_`` and that is marked
``@hookspec`` is documented, in source order, under the family comment
(``# -- lifecycle ----``) it follows: its signature as written, its pluggy options, its
docstring.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

DEFAULT_OUTPUT = Path("docs/hooks.md")
SPEC_ATTRIBUTE = "alveary_spec"
"""Where ``pluggy.HookspecMarker("alveary")`` keeps a spec's options."""

_FAMILY = re.compile(r"^# -- (?P<name>.+?) -+\s*$", re.MULTILINE)
_FLAGS = ("firstresult", "historic")


def _hookspecs() -> ModuleType:
    import alveary.hookspecs

    return alveary.hookspecs


def _hooks(module: ModuleType) -> list[Callable[..., Any]]:
    """The hook specs of ``module``, in source order."""
    hooks = [
        obj
        for name, obj in vars(module).items()
        if name.startswith("alveary_")
        and inspect.isfunction(obj)
        and getattr(obj, SPEC_ATTRIBUTE, None) is not None
    ]
    return sorted(hooks, key=lambda hook: hook.__code__.co_firstlineno)


def _families(source: str) -> list[tuple[int, str]]:
    """The family comments of ``source``: (line number, name), in order."""
    return [
        (source.count("\n", 0, match.start()) + 1, match["name"].strip())
        for match in _FAMILY.finditer(source)
    ]


def _annotation(annotation: Any) -> str:
    # With ``from __future__ import annotations`` they are the strings as written.
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def signature(hook: Callable[..., Any]) -> str:
    """``name(arg: Type, ...) -> Return``, with the annotations as written in the source."""
    sig = inspect.signature(hook)
    params = []
    for param in sig.parameters.values():
        text = param.name
        if param.annotation is not inspect.Parameter.empty:
            text += f": {_annotation(param.annotation)}"
        if param.default is not inspect.Parameter.empty:
            text += f" = {param.default!r}"
        params.append(text)
    text = f"{hook.__name__}({', '.join(params)})"
    if sig.return_annotation is not inspect.Signature.empty:
        text += f" -> {_annotation(sig.return_annotation)}"
    return text


def _heading(family: str) -> str:
    return family[:1].upper() + family[1:]


def render(module: ModuleType | None = None) -> str:
    """The Markdown text of the hook reference for ``module`` (``alveary.hookspecs``)."""
    if module is None:
        module = _hookspecs()
    families = _families(inspect.getsource(module))
    lines = [
        "# Hook reference",
        "",
        f"<!-- Generated from {module.__name__} by `python -m alveary._hookdocs`;"
        " do not edit by hand. -->",
        "",
        inspect.cleandoc(module.__doc__ or ""),
        "",
    ]
    current: str | None = None
    for hook in _hooks(module):
        line = hook.__code__.co_firstlineno
        family = next((name for start, name in reversed(families) if start < line), "Hooks")
        if family != current:
            lines += [f"## {_heading(family)}", ""]
            current = family
        lines += [f"### `{signature(hook)}`", ""]
        options = getattr(hook, SPEC_ATTRIBUTE)
        flags = [flag for flag in _FLAGS if options.get(flag)]
        if flags:
            lines += [", ".join(f"`{flag}`" for flag in flags), ""]
        lines += [inspect.cleandoc(hook.__doc__ or "Not documented."), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the hook reference, or with ``--check`` tell whether it is up to date."""
    parser = argparse.ArgumentParser(prog="python -m alveary._hookdocs", description=__doc__)
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the file differs instead of writing it"
    )
    args = parser.parse_args(argv)
    output: Path = args.output
    text = render()
    if args.check:
        current = output.read_text(encoding="utf-8") if output.is_file() else None
        if current != text:
            problem = "is missing" if current is None else "is out of date"
            print(f"{output} {problem}: run python -m alveary._hookdocs", file=sys.stderr)
            return 1
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
