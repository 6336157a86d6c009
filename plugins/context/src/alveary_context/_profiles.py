"""Expertise profiles: per agent profile and task kind, success and latency learned from
outcomes, with a confidence that grows with the number of outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs


@attrs.define(slots=True)
class Profile:
    """What one profile did at one task kind."""

    samples: int = 0
    success: float = 0.0
    latency: float = 0.0

    def add(self, ok: bool, seconds: float | None, rate: float) -> None:
        """A moving average that starts as a plain mean: the first outcomes count fully,
        then each new one with weight ``rate``."""
        self.samples += 1
        step = max(rate, 1.0 / self.samples)
        self.success += step * ((1.0 if ok else 0.0) - self.success)
        if seconds is not None and seconds >= 0:
            self.latency += step * (seconds - self.latency)


class Profiles:
    """Profiles by profile key and task kind; JSON-able for the store."""

    def __init__(self, rate: float, confidence_samples: float) -> None:
        self.rate = rate
        self.confidence_samples = confidence_samples
        self.data: dict[str, dict[str, Profile]] = {}
        self.dirty = False

    def get(self, profile: str, kind: str) -> Profile | None:
        kinds = self.data.get(profile)
        return None if kinds is None else kinds.get(kind)

    def record(self, profile: str, kind: str, ok: bool, seconds: float | None) -> Profile:
        kinds = self.data.setdefault(profile, {})
        found = kinds.get(kind)
        if found is None:
            found = kinds[kind] = Profile()
        found.add(ok, seconds, self.rate)
        self.dirty = True
        return found

    def confidence(self, profile: Profile | None) -> float:
        """``n / (n + confidence_samples)``: 0 for nothing known, one half at
        ``confidence_samples`` outcomes, towards 1 after."""
        if profile is None:
            return 0.0
        return profile.samples / (profile.samples + self.confidence_samples)

    def dump(self) -> dict[str, Any]:
        """JSON-able: ``{profile: {kind: [samples, success, latency]}}``."""
        return {
            p: {k: [v.samples, round(v.success, 6), round(v.latency, 6)] for k, v in kinds.items()}
            for p, kinds in self.data.items()
        }

    def load(self, data: Mapping[str, Any] | None) -> int:
        """Merge profiles saved by ``dump``; ignores what does not look like one. Returns
        how many (profile, kind) pairs were read."""
        count = 0
        if not isinstance(data, Mapping):
            return 0
        for profile, kinds in data.items():
            if not isinstance(kinds, Mapping):
                continue
            for kind, values in kinds.items():
                try:
                    samples, success, latency = values
                    found = Profile(int(samples), float(success), float(latency))
                except (TypeError, ValueError):
                    continue
                self.data.setdefault(str(profile), {})[str(kind)] = found
                count += 1
        return count
