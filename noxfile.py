"""Build and test sessions for the alveary workspace.

    uv run nox                        # the default sessions: tests, lint, typing
    uv run nox -l                     # list every session
    uv run nox -s "tests-3.12(core)"  # one package on one Python
    uv run nox -s docs -- --check     # is docs/hooks.md up to date?
    uv run nox -s "tests-3.12(core)" -- -n 0 -x   # serially, stop at the first failure

There is one ``tests`` session per Python version and package: the kernel (``core``), every
package under ``plugins/`` and ``contrib/``, and the integration tests. A package's tests live
in ``tests/<package>`` (``tests/core``, ``tests/plugins/<name>``, ...). The kernel's tests run
with every Python, the others with the oldest and newest, and a few version-independent tests
with large dependencies (a browser) with the newest only: the default run fits 25 minutes on
2 cores (``EVERY_PYTHON``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2025.10.14"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lint", "typing"]
# Interpreters come from the machine (PATH or pyenv), never from a download.
nox.options.download_python = "never"
# A missing interpreter is skipped locally and an error in CI.
CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}
nox.options.error_on_missing_interpreters = CI

ROOT = Path(__file__).resolve().parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.name.split(".") if part.isdigit())


def _find_interpreters() -> None:
    """Put a pyenv-installed ``python3.X`` on PATH for each version that PATH lacks.

    A pyenv shim does not count: it only works for the versions pyenv has selected.
    """
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for version in PYTHONS:
        found = shutil.which(f"python{version}")
        if found and Path(found).parent.name != "shims":
            continue
        installs = sorted(pyenv_root.glob(f"versions/{version}.*/bin"), key=_version_key)
        installs = [bin_dir for bin_dir in installs if (bin_dir / f"python{version}").exists()]
        if installs:
            os.environ["PATH"] = os.pathsep.join([str(installs[-1]), os.environ["PATH"]])


_find_interpreters()


TEST_PACKAGES = {
    "plugins/subprocess": ["plugins/state"],
    "plugins/tmux": ["plugins/state"],
    "plugins/metrics": ["plugins/gateway", "plugins/health", "plugins/state"],
    "plugins/workflows": ["plugins/state", "plugins/gateway"],
    "plugins/gateway": ["plugins/workflows", "plugins/metrics", "plugins/state"],
}
"""Workspace packages a package's tests need beyond its own dependencies (a durable store to
restart on, or to stop with tasks kept; the gateway that serves ``/metrics``; the plugins
whose numbers the metrics plugin exports; plugins whose API routes the gateway's OpenAPI test
fuzzes), installed for its tests only."""

TEST_GROUPS = {"plugins/gateway": ["test-gateway"]}
"""Dependency groups of the root pyproject a package's tests need beyond the ``test`` group,
installed for its tests only (with the newest Python: see ``NEWEST_ONLY``)."""

NEWEST_ONLY = {"plugins/gateway": ["test_dashboard.py", "test_openapi.py"]}
"""Tests that check what does not change with the Python version (the dashboard in a browser,
the live API against its OpenAPI document) and need large test dependencies: they run with
the newest Python only, which keeps the matrix within its time budget."""

PARALLEL = {
    "core",
    "integration",
    "plugins/autoscale",
    "plugins/gateway",
    "plugins/hooks",
    "plugins/loadtest",
    "plugins/state",
    "plugins/subprocess",
    "plugins/workflows",
}
"""Targets whose tests take longest, run on two pytest-xdist workers: most tests wait on
processes, sockets and timers, so two overlap their waits even on 2 cores. The others run
serially, where starting workers would cost more than it saves."""

WIDEST = (PYTHONS[0], PYTHONS[-1])
EVERY_PYTHON = {"core"}
"""Targets tested with every Python; the others (each plugin and contrib package, and the
integration tests) with the oldest and the newest (``WIDEST``), where what a version changes
shows first: the whole matrix would not fit 25 minutes on 2 cores. ``ALVEARY_EVERY_PYTHON=1``
tests every target with every Python (about twice as long)."""
EVERYTHING = os.environ.get("ALVEARY_EVERY_PYTHON", "").strip().lower() in {"1", "true", "yes"}


def _targets() -> dict[str, list[str]]:
    """Test target -> the workspace packages to install; the tests are in tests/<target>."""
    members = [
        pyproject.parent.relative_to(ROOT).as_posix()
        for group in ("plugins", "contrib")
        for pyproject in sorted((ROOT / group).glob("*/pyproject.toml"))
    ]
    targets = {"core": ["core"]} | {
        member: ["core", member, *TEST_PACKAGES.get(member, [])] for member in members
    }
    targets["integration"] = ["core", *members]
    return targets


TARGETS = _targets()
PACKAGES = TARGETS["integration"]
"""Every workspace package: the kernel, then each package under ``plugins/`` and ``contrib/``."""


def _editable(packages: list[str]) -> list[str]:
    """``-e`` for each package, with its optional extras (alveary-state's ``redis``), so the
    tests of what an extra enables run too."""
    args: list[str] = []
    for package in packages:
        project = nox.project.load_toml(ROOT / package / "pyproject.toml")["project"]
        extra = ",".join(project.get("optional-dependencies", {}))
        args += ["-e", f"{package}[{extra}]" if extra else package]
    return args


@nox.session(python=PYTHONS)
@nox.parametrize("target", list(TARGETS), ids=list(TARGETS))
def tests(session: nox.Session, target: str) -> None:
    """Run one package's tests (or the integration tests) with pytest."""
    tests_dir = Path("tests", target)
    if target == "integration":
        if not any(tests_dir.rglob("test_*.py")) and not any(tests_dir.rglob("*_test.py")):
            session.skip(f"{tests_dir} has no tests yet")
    elif not tests_dir.is_dir():
        session.error(f"{tests_dir} does not exist: every package needs tests")
    if target not in EVERY_PYTHON and session.python not in WIDEST and not EVERYTHING:
        session.skip(
            f"the tests of {target} run with Python {' and '.join(WIDEST)} "
            "(ALVEARY_EVERY_PYTHON=1 runs them with every Python)"
        )
    newest = session.python == PYTHONS[-1]
    groups = ["test", *(TEST_GROUPS.get(target, []) if newest else [])]
    session.install(*_editable(TARGETS[target]), *nox.project.dependency_groups(PYPROJECT, *groups))
    skipped = [] if newest else [f"--ignore={tests_dir / f}" for f in NEWEST_ONLY.get(target, [])]
    workers = ["-n", "2"] if target in PARALLEL else []
    session.run("pytest", tests_dir.as_posix(), *workers, *skipped, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")


# The Python version mypy checks for, so that version-conditional dependencies are installed.
@nox.session(python=PYPROJECT["tool"]["mypy"]["python_version"])
def typing(session: nox.Session) -> None:
    """Type-check every package with mypy --strict (the files are listed in pyproject.toml)."""
    # pytest too: alveary.testing.contracts is typed against it
    session.install(
        *_editable(PACKAGES),
        *nox.project.dependency_groups(PYPROJECT, "typing"),
        *nox.project.dependency_groups(PYPROJECT, "test"),
    )
    session.run("mypy", "--strict", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Regenerate docs/hooks.md from the hook specs (``-- --check`` only checks it)."""
    session.install("-e", "core")
    session.run("python", "-m", "alveary._hookdocs", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the kernel benchmarks (``-- --quick`` for a short run); psutil reads RSS."""
    session.install("-e", "core", "psutil")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(name="bench-stores")
def bench_stores(session: nox.Session) -> None:
    """Compare the stores (memory, sqlite, redis) on one pool (``-- --quick``, ``-- --celery``
    with celery installed alongside); redis-server must be on PATH for the redis rows."""
    session.install("-e", "core", "-e", "plugins/state[redis]")
    if "--celery" in session.posargs:
        session.install("celery[redis]>=5,<6")
    session.run("python", "benchmarks/stores.py", *session.posargs)


@nox.session(name="bench-gateway")
def bench_gateway(session: nox.Session) -> None:
    """Benchmark the HTTP API: round trip, submits/s, SSE fan-out (``-- --quick``,
    ``-- --celery`` with celery installed alongside, ``-- --profile PATH``)."""
    session.install("-e", "core", "-e", "plugins/gateway")
    if "--celery" in session.posargs:
        session.install("celery[redis]>=5,<6")
    session.run("python", "benchmarks/gateway.py", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Run the demo (``alveary demo``, from contrib/demo)."""
    session.install("-e", "core", "-e", "contrib/demo")
    session.run("alveary", "demo", *session.posargs)
