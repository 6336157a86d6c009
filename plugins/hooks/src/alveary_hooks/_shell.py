"""Shell hooks: background ones from a bounded queue, blocking and critical ones for the
attempt that waits on them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import structlog

from ._config import Command, Config
from ._counters import Counters
from ._document import Document, encode, variables
from ._runner import Run, Spec, base_environment, run_with_retries
from ._select import Fields

log = structlog.get_logger("alveary.plugins.hooks")

Report = Callable[[str, str, Document, Run], None]
"""``report(kind, name, document, run)``: a run failed (``kind`` is ``command`` or ``gate``)."""


class ShellHook:
    """One configured command with its field match and counters."""

    __slots__ = ("config", "counters", "fields", "name")

    def __init__(self, config: Command) -> None:
        self.config = config
        self.name = config.name
        self.fields = Fields(config.match)
        self.counters = Counters()


class Shell:
    """Runs the shell hooks. Background runs wait in one queue of at most ``queue`` entries
    (more are dropped and counted) for ``workers`` workers, so a slow hook never slows
    dispatch; blocking and critical runs happen in the attempt that waits for them."""

    def __init__(self, config: Config, report: Report) -> None:
        self.hooks = [ShellHook(command) for command in config.commands]
        self.background = [hook for hook in self.hooks if hook.config.mode == "background"]
        self.holding = [hook for hook in self.hooks if hook.config.mode != "background"]
        self.base_env = base_environment(config.env_allow)
        self._config = config
        self._report = report
        self._queue: asyncio.Queue[tuple[ShellHook, Document]] = asyncio.Queue(config.queue)
        self._workers: list[asyncio.Task[None]] = []
        self._closing = False

    def offerer(self, hook: ShellHook) -> Callable[[Document], None]:
        """The function that queues a background run of ``hook``: called for each event it
        is bound to, on the event's own path, so it only counts or queues."""
        queue, counters = self._queue, hook.counters

        def offer(document: Document) -> None:
            if self._closing or queue.full():
                counters.dropped += 1
            else:
                queue.put_nowait((hook, document))

        return offer

    def start(self) -> None:
        if self.background:
            self._workers = [
                asyncio.ensure_future(self._work()) for _ in range(self._config.workers)
            ]

    async def _work(self) -> None:
        while True:
            hook, document = await self._queue.get()
            try:
                await self.run(hook, document)
            except Exception as exc:  # pragma: no cover - a bug here must not stop the worker
                log.exception("background hook crashed", hook=hook.name, error=repr(exc))
            finally:
                self._queue.task_done()

    async def close(self) -> None:
        """Stop: runs still queued are dropped (and counted), running ones are killed with
        their process groups. (``alveary_shutdown`` has ``hook_timeout`` to finish.)"""
        self._closing = True
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        while not self._queue.empty():
            hook, _ = self._queue.get_nowait()
            hook.counters.dropped += 1

    async def run(self, hook: ShellHook, document: Document) -> Run:
        """Run ``hook`` for ``document`` (with its retries), count and report the result."""
        config = hook.config
        spec = self.spec(
            config.command,
            config.env,
            Path(config.cwd) if config.cwd else None,
            hook.name,
            document,
            config.timeout,
            config.max_output,
        )
        result = await run_with_retries(spec, encode(document), config.retries)
        count(hook.counters, result)
        if not result.ok:
            self._report("command", hook.name, document, result)
        return result

    async def hold(self, hooks: Sequence[ShellHook], document: Document) -> str | None:
        """Run the blocking and critical ``hooks`` bound to ``document``'s point, one after
        the other; the first critical failure stops them and is returned as a reason."""
        for hook in hooks:
            if hook.fields and not hook.fields(document):
                continue
            result = await self.run(hook, document)
            if not result.ok and hook.config.mode == "critical":
                detail = f" ({result.output})" if result.output else ""
                return f"critical hook {hook.name!r} failed: {result.error}{detail}"
        return None

    def spec(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path | None,
        name: str,
        document: Document,
        timeout: float,
        max_output: int,
        extra: Mapping[str, str] | None = None,
    ) -> Spec:
        """What to run: the allowed variables of the orchestrator's environment, the hook's
        own, then the event's ``ALVEARY_*`` ones (which nothing overrides)."""
        environment = {**self.base_env, **env, **variables(document, name), **(extra or {})}
        return Spec(tuple(argv), environment, cwd, timeout, max_output, self._config.grace)


def count(counters: Counters, result: Run) -> None:
    counters.retries += result.tries - 1
    if result.ok:
        counters.delivered += 1
    else:
        counters.failed += 1
