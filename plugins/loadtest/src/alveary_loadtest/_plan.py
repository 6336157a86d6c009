"""A load-test plan: what to run, read from TOML and checked before anything starts, so that a
mistake is one line naming the file, the key and what was expected."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import alveary
import attrs

PHASES = ("spawn", "delegation", "concurrent", "stress")
"""The phases a plan may list, run in this order between preparation and cleanup."""

PATTERNS = ("constant", "ramp", "step", "poisson")

CAPABILITY = "loadtest"
"""What the embedded agents can do, and what a mix entry requires unless it says."""


class PlanError(Exception):
    """The plan is wrong: ``str()`` is the one line to print."""


@attrs.frozen
class Arrival:
    """When tasks arrive: ``rate`` per second (``constant`` and ``poisson``), from ``rate`` to
    ``to_rate`` (``ramp``), or ``rate`` plus ``step`` every ``every`` seconds (``step``)."""

    pattern: str = "constant"
    rate: float = 50.0
    to_rate: float = 0.0
    step: float = 0.0
    every: float = 1.0

    def rate_at(self, t: float, duration: float) -> float:
        """The arrival rate ``t`` seconds into a phase of ``duration`` seconds."""
        if self.pattern == "ramp":
            return self.rate + (self.to_rate - self.rate) * min(1.0, t / duration)
        if self.pattern == "step":
            return self.rate + self.step * math.floor(t / self.every)
        return self.rate


@attrs.frozen
class Mix:
    """One kind of task and how often it comes, relative to the others' ``weight``."""

    kind: str
    weight: float
    payload: Any
    requires: frozenset[str]
    timeout: float
    attempts: int = 3

    @property
    def wait(self) -> float:
        """How long a task of this kind may take from submit to result before the run gives
        up on it: every attempt's ``timeout``, and room for the backoffs between them."""
        return self.timeout * self.attempts + 10.0 * (self.attempts - 1)


@attrs.frozen
class Targets:
    spawn_seconds: float = 10.0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = 500.0
    latency_p99_ms: float | None = None
    completion: float = 0.85


@attrs.frozen
class Spawn:
    agents: int = 10
    batch: int = 10
    capacity: int = 1
    pool: str | None = None


@attrs.frozen
class Load:
    """The concurrent or the stress phase: how long, how tasks arrive, and how many may be in
    flight at once; ``window`` is how often the stress phase judges whether it broke."""

    duration: float
    arrival: Arrival
    in_flight: int
    window: float = 1.0


@attrs.frozen
class Plan:
    source: str
    phases: tuple[str, ...]
    config: Path | None
    seed: int
    targets: Targets
    spawn: Spawn
    delegation: int
    concurrent: Load
    stress: Load
    mix: tuple[Mix, ...]

    @property
    def capabilities(self) -> frozenset[str]:
        """What the embedded agents must offer to take every task of the mix."""
        return frozenset().union(*(m.requires for m in self.mix))


def read(path: str) -> Plan:
    """Read and check the plan at ``path``; ``PlanError`` says what is wrong."""
    try:
        data, source = alveary.read_toml(path)  # a bounded regular file, whatever path names
    except alveary.ConfigError as exc:
        raise PlanError(str(exc)) from None
    return parse(data, source, Path(path).resolve().parent)


def parse(
    data: Mapping[str, Any], source: str | alveary.Source = "<plan>", base: Path | None = None
) -> Plan:
    """Check a plan shaped like the TOML file; relative paths are taken from ``base``. A
    ``Source`` with the file's text puts the line in front of an error."""
    r = _Reader(source if isinstance(source, alveary.Source) else alveary.Source(source))
    r.only(data, "", ("loadtest", "targets", "spawn", "delegation", "concurrent", "stress", "mix"))
    top = r.table(data, "loadtest")
    r.only(top, "loadtest", ("phases", "config", "seed"))
    phases = r.get(top, "loadtest.phases", list, list(PHASES))
    for i, phase in enumerate(phases):
        if phase not in PHASES:
            r.fail(f"loadtest.phases[{i}]", f"one of {', '.join(PHASES)}", phase)
    if len(set(phases)) != len(phases):
        r.fail("loadtest.phases", "each phase at most once", phases)
    config = r.get(top, "loadtest.config", str, None)
    targets = r.table(data, "targets")
    r.only(targets, "targets", [f.name for f in attrs.fields(Targets)])
    t = Targets(
        spawn_seconds=r.number(targets, "targets.spawn_seconds", 10.0, low=0),
        latency_p50_ms=r.number(targets, "targets.latency_p50_ms", None, low=0),
        latency_p95_ms=r.number(targets, "targets.latency_p95_ms", 500.0, low=0),
        latency_p99_ms=r.number(targets, "targets.latency_p99_ms", None, low=0),
        completion=r.number(targets, "targets.completion", 0.85, low=0, high=1),
    )
    spawn = r.table(data, "spawn")
    r.only(spawn, "spawn", ("agents", "batch", "capacity", "pool"))
    s = Spawn(
        agents=r.integer(spawn, "spawn.agents", 10, low=1),
        batch=r.integer(spawn, "spawn.batch", 10, low=1),
        capacity=r.integer(spawn, "spawn.capacity", 1, low=1),
        pool=r.get(spawn, "spawn.pool", str, None),
    )
    delegation = r.table(data, "delegation")
    r.only(delegation, "delegation", ("tasks",))
    return Plan(
        source=r.source.file,
        phases=tuple(p for p in PHASES if p in phases),
        config=None if config is None else (base or Path.cwd()) / config,
        seed=r.integer(top, "loadtest.seed", 1, low=-(2**63)),
        targets=t,
        spawn=s,
        delegation=r.integer(delegation, "delegation.tasks", 20, low=1),
        concurrent=_load(r, data, "concurrent", Load(10.0, Arrival("constant", 50.0), 100)),
        stress=_load(r, data, "stress", Load(20.0, Arrival("ramp", 20.0, 2000.0), 1000)),
        mix=_mix(r, data),
    )


def _load(r: _Reader, data: Mapping[str, Any], name: str, default: Load) -> Load:
    table = r.table(data, name)
    keys = ("duration", "in_flight", "pattern", "rate", "to_rate", "step", "every", "window")
    r.only(table, name, keys)
    pattern = r.get(table, f"{name}.pattern", str, default.arrival.pattern)
    if pattern not in PATTERNS:
        r.fail(f"{name}.pattern", f"one of {', '.join(PATTERNS)}", pattern)
    rate = r.number(table, f"{name}.rate", default.arrival.rate, low=0, strict=True)
    to_rate = r.number(table, f"{name}.to_rate", default.arrival.to_rate or rate, low=0)
    if pattern == "ramp" and to_rate < rate:
        r.fail(f"{name}.to_rate", f"a rate >= rate ({rate:g})", to_rate)
    arrival = Arrival(
        pattern=pattern,
        rate=rate,
        to_rate=to_rate,
        step=r.number(table, f"{name}.step", default.arrival.step or rate, low=0),
        every=r.number(table, f"{name}.every", default.arrival.every, low=0, strict=True),
    )
    return Load(
        duration=r.number(table, f"{name}.duration", default.duration, low=0, strict=True),
        arrival=arrival,
        in_flight=r.integer(table, f"{name}.in_flight", default.in_flight, low=1),
        window=r.number(table, f"{name}.window", default.window, low=0, strict=True),
    )


def _mix(r: _Reader, data: Mapping[str, Any]) -> tuple[Mix, ...]:
    entries = data.get("mix", [{"kind": "work", "work": 0.01}])
    if not isinstance(entries, list) or not entries:
        r.fail("mix", "one or more [[mix]] tables", entries)
    found = []
    for i, entry in enumerate(entries):
        key = f"mix[{i}]"
        if not isinstance(entry, dict):
            r.fail(key, "a table", entry)
        r.only(entry, key, ("kind", "weight", "payload", "requires", "work", "timeout", "attempts"))
        kind = r.get(entry, f"{key}.kind", str, None)
        if not kind:
            r.fail(f"{key}.kind", "a non-empty string", kind)
        requires = r.get(entry, f"{key}.requires", list, [CAPABILITY])
        if not all(isinstance(c, str) and c for c in requires):
            r.fail(f"{key}.requires", "a list of non-empty strings", requires)
        payload = entry.get("payload", {})
        work = r.number(entry, f"{key}.work", None, low=0)
        if work is not None:
            if not isinstance(payload, dict):
                r.fail(f"{key}.payload", "a table (work is added to it)", payload)
            payload = {**payload, "work": work}
        found.append(
            Mix(
                kind=kind,
                weight=r.number(entry, f"{key}.weight", 1.0, low=0),
                payload=payload,
                requires=frozenset(requires),
                timeout=r.number(entry, f"{key}.timeout", 30.0, low=0, strict=True),
                attempts=r.integer(entry, f"{key}.attempts", 3, low=1),
            )
        )
    if sum(m.weight for m in found) <= 0:
        r.fail("mix", "weights summing to more than 0", [m.weight for m in found])
    return tuple(found)


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
"""One part of a dotted key: a name, or a list index in brackets."""


class _Reader:
    """Typed reads from the parsed TOML, each failure one line naming the key."""

    def __init__(self, source: alveary.Source) -> None:
        self.source = source

    def fail(self, key: str, expected: str, got: Any) -> Any:
        """Raise ``PlanError``: ``plan.toml:LINE: KEY: expected ..., got ...``; ``key`` is
        dotted, with list indexes (``mix[1].kind``)."""
        path = tuple(int(i) if i else k for k, i in _PART.findall(key))
        raise PlanError(self.source.error(path, f"expected {expected}, got {got!r}"))

    def only(self, table: Mapping[str, Any], name: str, keys: Any) -> None:
        for key in table:
            if key not in keys:
                full = f"{name}.{key}" if name else key
                self.fail(full, f"a known key ({', '.join(keys)})", key)

    def table(self, data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        table = data.get(name, {})
        if not isinstance(table, dict):
            self.fail(name, "a table", table)
        found: Mapping[str, Any] = table
        return found

    def get(self, table: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
        value = table.get(key.rsplit(".", 1)[-1], default)
        if value is not default and not isinstance(value, kind):
            self.fail(key, f"a {'list' if kind is list else 'string'}", value)
        return value

    def number(
        self,
        table: Mapping[str, Any],
        key: str,
        default: Any,
        *,
        low: float,
        high: float = math.inf,
        strict: bool = False,
    ) -> Any:
        """A finite number in ``[low, high]`` (``(low, high]`` when ``strict``)."""
        value = table.get(key.rsplit(".", 1)[-1], default)
        if value is default:
            return value
        bound = f"> {low:g}" if strict else f">= {low:g}"
        expected = f"a number {bound}" + (f" and <= {high:g}" if high < math.inf else "")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, expected, value)
        if not math.isfinite(value) or value < low or value > high or (strict and value == low):
            self.fail(key, expected, value)
        return float(value)

    def integer(self, table: Mapping[str, Any], key: str, default: int, *, low: int) -> int:
        value = table.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self.fail(key, f"an integer >= {low}", value)
        return int(value)
