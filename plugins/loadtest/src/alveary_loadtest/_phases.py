"""The phases of a run, in order: preparation, spawn, delegation, concurrent, stress (cleanup
is the caller's ``finally``). Each adds what it found to ``results`` as soon as it ends, so an
interrupted run still reports the phases it finished."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ._arrivals import arrivals, choose
from ._inprocess import NO_RESULT
from ._measure import Recorder, Sample, counts, latency_ms, percentile
from ._plan import Load, Mix, Plan, Spawn

ABANDONED = "abandoned: its phase stopped first"


class Backend(Protocol):
    """The orchestrator under test: in this process, or behind a gateway."""

    name: str
    embedded: bool
    """True for the embedded orchestrator, which has no agents until the plan adds some."""

    async def prepare(self) -> dict[str, Any]: ...

    async def spawn(
        self, spawn: Spawn, capabilities: Iterable[str], ready: Callable[[int], None]
    ) -> list[dict[str, Any]]: ...

    async def run(self, mix: Mix) -> tuple[bool, str | None]: ...

    async def close(self) -> None: ...


class Run:
    """One run of a plan against a backend, recording into ``rec`` and ``results``."""

    def __init__(self, plan: Plan, backend: Backend, rec: Recorder) -> None:
        self.plan, self.backend, self.rec = plan, backend, rec
        self.rng = random.Random(plan.seed)
        self.results: dict[str, Any] = {}

    async def __call__(self) -> None:
        began = time.perf_counter()
        found = await self.backend.prepare()
        self.rec.agents = found["agents"]
        if "spawn" not in self.plan.phases and self.backend.embedded:  # agents to work with
            await self.backend.spawn(self.plan.spawn, self.plan.capabilities, self._ready)
        self.results["preparation"] = {**found, "seconds": time.perf_counter() - began}
        for phase in self.plan.phases:
            self.rec.phase = phase
            self.results[phase] = await getattr(self, phase)()

    def _ready(self, agents: int) -> None:
        self.rec.agents = agents

    async def task(self, phase: str, mix: Mix, live: dict[int, float] | None = None) -> Sample:
        submitted = self.rec.begin()
        if live is not None:
            live[id(asyncio.current_task())] = submitted
        ok = False
        error: str | None = ABANDONED  # unless the backend answers
        try:
            ok, error = await self.backend.run(mix)
        except Exception as exc:  # the orchestrator refused it: a failed task, not a crash
            ok, error = False, f"{type(exc).__name__}: {exc}"[:200]
        finally:
            if live is not None:
                live.pop(id(asyncio.current_task()), None)
            sample = self.rec.end(phase, submitted, ok, error, lost=error in (NO_RESULT, ABANDONED))
        return sample

    async def spawn(self) -> dict[str, Any]:
        spawn = self.plan.spawn
        began = time.perf_counter()
        limit = max(60.0, 6 * self.plan.targets.spawn_seconds)
        try:
            batches = await asyncio.wait_for(
                self.backend.spawn(spawn, self.plan.capabilities, self._ready), limit
            )
        except asyncio.TimeoutError:
            return {"agents": spawn.agents, "ready": self.rec.agents, "seconds": None}
        return {
            "agents": spawn.agents,
            "ready": self.rec.agents,
            "seconds": time.perf_counter() - began,
            "batches": batches,
        }

    async def delegation(self) -> dict[str, Any]:
        """One task at a time: the round trip from submit to result."""
        for _ in range(self.plan.delegation):
            await self.task("delegation", choose(self.plan.mix, self.rng))
        samples = self.rec.of("delegation")
        return {**counts(samples), "latency_ms": latency_ms(samples)}

    async def concurrent(self) -> dict[str, Any]:
        """Tasks arriving by the phase's pattern, up to ``in_flight`` at once."""
        load = self.plan.concurrent
        began = self.rec.now()
        await self._fire("concurrent", load, lambda *_: False)
        samples = self.rec.of("concurrent")
        seconds = self.rec.now() - began
        return {
            **counts(samples),
            "latency_ms": latency_ms(samples),
            "seconds": seconds,
            "offered_per_s": len(samples) / load.duration,
            "throughput_per_s": sum(s.ok for s in samples) / seconds,
        }

    async def stress(self) -> dict[str, Any]:
        """Raise the arrival rate until, in some window, the latency target or the
        completion target is missed, ``in_flight`` tasks are waiting, or the arrivals fall a
        window behind their schedule: the rate that arrived in that window broke it."""
        load = self.plan.stress
        windows: list[dict[str, Any]] = []
        verdict: dict[str, Any] = {"broke_at_per_s": None, "planned_per_s": None, "reason": None}
        mark = {"now": self.rec.now(), "submitted": float(self.rec.submitted)}

        def judge(start: float, t: float, live: dict[int, float]) -> bool:
            lag = asyncio.get_running_loop().time() - start - t
            return self._window(load, t, lag, live, windows, verdict, mark)

        await self._fire("stress", load, judge)
        held = [w["arrived_per_s"] for w in windows if not w["broke"]]
        return {
            **verdict,
            "held_per_s": max(held) if held else None,
            **counts(self.rec.of("stress")),
            "windows": windows,
        }

    def _window(
        self,
        load: Load,
        t: float,
        lag: float,
        live: dict[int, float],
        windows: list[dict[str, Any]],
        verdict: dict[str, Any],
        mark: dict[str, float],
    ) -> bool:
        """Judge the window that just ended at ``t`` seconds into the phase (``lag`` seconds
        late: how far the arrivals fell behind their schedule); True if it broke."""
        now = self.rec.now()
        arrived = (self.rec.submitted - mark["submitted"]) / max(now - mark["now"], 1e-9)
        mark.update(now=now, submitted=float(self.rec.submitted))
        ended = [
            s
            for s in self.rec.of("stress")
            if s.finished is not None and s.finished >= now - load.window
        ]
        # Tasks still waiting count with their age so far: a lower bound of their latency.
        ms = [s.latency * 1000 for s in ended if s.latency is not None]
        ms += [(now - submitted) * 1000 for submitted in live.values()]
        p95 = percentile(ms, 95) if ms else None
        ok = sum(s.ok for s in ended)
        completion = ok / len(ended) if ended else None
        target = self.plan.targets
        limit = target.latency_p95_ms if target.latency_p95_ms is not None else 500.0
        rate = load.arrival.rate_at(max(0.0, t - load.window), load.duration)
        reason = None
        if len(live) >= load.in_flight:
            reason = f"{load.in_flight} tasks in flight (stress.in_flight)"
        elif lag > load.window:
            reason = f"arrivals {lag:.1f} s behind schedule: the event loop is saturated"
        elif p95 is not None and p95 > limit:
            reason = f"p95 latency {p95:.0f} ms > {limit:g} ms"
        elif completion is not None and completion < target.completion:
            reason = f"completion {completion:.1%} < {target.completion:.0%}"
        windows.append(
            {
                "t": t,
                "planned_per_s": rate,
                "arrived_per_s": arrived,
                "finished": len(ended),
                "in_flight": len(live),
                "p95_ms": p95,
                "completion": completion,
                "broke": reason is not None,
            }
        )
        if reason is not None:
            verdict.update(broke_at_per_s=arrived, planned_per_s=rate, reason=reason)
        return reason is not None

    async def _fire(
        self, phase: str, load: Load, judge: Callable[[float, float, dict[int, float]], bool]
    ) -> None:
        """Submit tasks at the arrival offsets, at most ``in_flight`` at once, calling
        ``judge`` every ``window`` seconds (it stops the arrivals by returning True); then
        wait for the tasks in flight (stress: at most a few windows, then abandon them)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        slots = asyncio.Semaphore(load.in_flight)
        live: dict[int, float] = {}
        running: set[asyncio.Task[Sample]] = set()
        next_judgement = load.window

        async def one(mix: Mix) -> Sample:
            try:
                return await self.task(phase, mix, live)
            finally:
                slots.release()

        try:
            for offset in arrivals(load.arrival, load.duration, self.rng):
                while offset >= next_judgement:
                    await asyncio.sleep(max(0.0, start + next_judgement - loop.time()))
                    if judge(start, next_judgement, live):
                        return
                    next_judgement += load.window
                await asyncio.sleep(max(0.0, start + offset - loop.time()))
                if slots.locked() and judge(start, loop.time() - start, live):
                    return
                await slots.acquire()
                job = asyncio.ensure_future(one(choose(self.plan.mix, self.rng)))
                running.add(job)
                job.add_done_callback(running.discard)
        except asyncio.CancelledError:
            for job in running:
                job.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        finally:
            if running:
                grace = 5 * load.window if phase == "stress" else None
                _, pending = await asyncio.wait(set(running), timeout=grace)
                for job in pending:
                    job.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
