"""The sqlite store against bad input and faults: one line and exit 2 at start; mid-run,
writes that fail are retried and nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import stat
import subprocess
import textwrap
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from alveary import AgentSpec, ConfigError, Orchestrator, StoreError, Task, TaskSpec, TaskState
from alveary._cli import main
from alveary.testing import EventRecorder, until
from alveary_state import Batch, Config, SQLiteStore, State, _schema


def config(path: Path | str) -> dict[str, object]:
    return {
        "orchestrator": {"store": "sqlite", "tick_interval": 0.05, "retry_base": 0.0},
        "plugins": {"enabled": ["state"], "state": {"path": str(path), "flush_interval": 0.01}},
    }


def run_cli(tmp_path: Path, path: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    toml = tmp_path / "alveary.toml"
    toml.write_text(
        textwrap.dedent(f"""\
        [orchestrator]
        store = "sqlite"

        [plugins]
        enabled = ["state"]

        [plugins.state]
        path = {path!r}
        """)
    )
    status = main(["run", "--config", str(toml)])
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing-dir", "nowhere/a.db: the directory"),
        ("not-sqlite", "a.db: not an SQLite database (is it the right file?)"),
        ("foreign", "a.db: not an alveary store (it has tables, but no schema version)"),
        ("newer", "a.db: written by a newer alveary (schema 99, this one reads up to 1)"),
    ],
)
def test_a_bad_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, expected: str
) -> None:
    path = tmp_path / ("nowhere/a.db" if setup == "missing-dir" else "a.db")
    if setup == "not-sqlite":
        path.write_bytes(b"this is a text file, not a database\n" * 100)
    elif setup == "foreign":
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("CREATE TABLE photos (id INTEGER)")
    elif setup == "newer":
        with closing(sqlite3.connect(path)) as db, db:
            db.executescript(_schema.CREATE)
            db.execute("INSERT INTO meta VALUES ('schema', '99')")
    status, err = run_cli(tmp_path, str(path), capsys)
    lines = err.strip().splitlines()
    assert status == 2, err
    assert "Traceback" not in err
    assert lines[-1].startswith("alveary: "), lines
    assert expected in lines[-1], lines


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only for this process: by its mode, or, for root, who writes whatever
    the mode says, by the file system's immutable attribute."""
    if os.geteuid() != 0:
        path.chmod(stat.S_IRUSR)
        yield
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], check=False).returncode:
        pytest.skip("root writes read-only files, and this file system has no immutable files")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def test_a_read_only_file_is_refused_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.db"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("PRAGMA journal_mode = WAL")
    with read_only(path):
        status, err = run_cli(tmp_path, str(path), capsys)
    assert status == 2, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"alveary: {path}: the file is read-only", err


async def test_a_second_orchestrator_on_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    async with Orchestrator.from_config(config(path)):
        second = Orchestrator.from_config(config(path))
        with pytest.raises(
            StoreError, match=rf"a\.db: in use by another orchestrator \(pid {os.getpid()}\)"
        ):
            await second.start()


async def test_an_older_schema_is_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.db"
    store = SQLiteStore(str(path))
    await store.open()
    await store.close()
    with closing(sqlite3.connect(path)) as db, db:  # as if written before the 'note' column existed
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    monkeypatch.setattr(_schema, "VERSION", 2)
    monkeypatch.setitem(
        _schema.MIGRATIONS, 1, lambda db: db.execute("ALTER TABLE tasks ADD COLUMN note TEXT")
    )
    await store.open()
    await store.close()
    with closing(sqlite3.connect(path)) as db, db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("2",)
        assert "note" in [row[1] for row in db.execute("PRAGMA table_info(tasks)")]


async def test_writes_that_fail_mid_run_are_retried_and_nothing_is_lost(tmp_path: Path) -> None:
    """The disk fails mid-run: tasks keep running, the store says it is failing, a new submit
    waits (it is not acknowledged until durable), and once writes succeed again every task
    is in the file."""
    path = tmp_path / "a.db"
    plugin, events = State(Config(path=str(path), flush_interval=0.01)), EventRecorder()
    settings = {**config(path), "plugins": {"disabled": []}}
    async with Orchestrator.from_config(settings, [plugin, events]) as orch:
        await orch.register(AgentSpec("a", options={"handler": slow}, capacity=2))
        handles = [await orch.submit(TaskSpec("work", i)) for i in range(10)]
        store = plugin.sqlite
        write = store._write_batch
        broken = True

        def failing_disk(batch: Batch) -> list[tuple[str, str]]:
            if broken:
                raise sqlite3.OperationalError("disk I/O error")
            return write(batch)

        store._write_batch = failing_disk  # type: ignore[method-assign]
        await until(lambda: events.types().count("store.failing") >= 2, timeout=30)
        late = asyncio.ensure_future(orch.submit(TaskSpec("work", "late")))
        for handle in handles:
            assert (await handle.result(timeout=30)).ok
        assert not late.done(), "a submit was acknowledged while nothing could be written"
        assert events.of("store.failing")[0].data["error"] == "disk I/O error"
        broken = False
        await events.wait_for("store.recovered", timeout=30)
        handles.append(await asyncio.wait_for(late, timeout=30))
        assert (await handles[-1].result(timeout=30)).ok
    reopened = SQLiteStore(str(path))
    await reopened.open()
    try:
        for handle in handles:
            found = reopened.get_task(handle.id)
            assert found is not None
            assert found.state is TaskState.SUCCEEDED
    finally:
        await reopened.close()


async def slow(task: Task) -> object:
    await asyncio.sleep(0.01)
    return task.payload


def test_the_store_without_the_plugin_names_the_plugin(tmp_path: Path) -> None:
    path = tmp_path / "alveary.toml"
    path.write_text('[orchestrator]\nstore = "sqlite"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Orchestrator.from_file(path)
    assert info.value.lines == [
        f"{path}:2: orchestrator.store: 'sqlite' is provided by plugin 'state', which is not "
        "enabled (add it to plugins.enabled)"
    ]
