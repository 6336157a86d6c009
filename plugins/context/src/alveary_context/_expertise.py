"""The expertise score: how well an agent suits a task, from what its profile learned at the
task's kind, its declared skill, the task's complexity and the agent's preferences."""

from __future__ import annotations

import random

from alveary import Agent, Task

from ._config import Config
from ._profiles import Profile, Profiles


class Expertise:
    """Scores agents for tasks in ``[0, 1]`` and learns from outcomes.

    The learned part blends the profile's success rate with the agent's declared skill by
    confidence: a cold agent is judged by what it declares, an experienced one by what it
    did. A share ``explore`` of tasks is scored by how little is known instead (``1 -
    confidence``), so agents with few outcomes keep getting some work. O(1) a score.
    """

    def __init__(
        self, config: Config, profiles: Profiles, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self.profiles = profiles
        self.rng = rng or random.Random()
        self._task: str | None = None
        self._exploring = False
        self.explored = 0
        """Tasks scored for exploration so far."""

    def profile_of(self, agent: Agent) -> str:
        """The profile an agent learns into: its profile label, else its pool, else its name."""
        label = agent.spec.labels.get(self.config.profile_label)
        if label:
            return f"{self.config.profile_label}:{label}"
        if agent.pool is not None:
            return f"pool:{agent.pool}"
        return f"agent:{agent.name}"

    def skill(self, task: Task, agent: Agent) -> float:
        """The agent's declared level for the task's capabilities (1.0 if it declares none)."""
        skills = agent.spec.skills
        requires = task.spec.requires
        if not requires or not skills:
            return 1.0
        return sum(min(1.0, max(0.0, skills.get(c, 1.0))) for c in requires) / len(requires)

    def parts(self, task: Task, agent: Agent) -> dict[str, float]:
        """Every part of the score the task and agent describe, and the confidence."""
        config = self.config
        skill = self.skill(task, agent)
        profile = self.profiles.get(self.profile_of(agent), task.kind)
        confidence = self.profiles.confidence(profile)
        success = 0.0 if profile is None else profile.success
        found = {
            "learned": confidence * success + (1.0 - confidence) * skill,
            "confidence": confidence,
        }
        complexity = _fraction(task.spec.labels.get(config.complexity_label))
        if complexity is not None:
            found["fit"] = 1.0 - max(0.0, complexity - skill)
        prefers = agent.spec.labels.get(config.prefers_label)
        if prefers is not None:
            kinds = {k.strip() for k in prefers.split(",")}
            found["preference"] = 1.0 if task.kind in kinds else 0.0
        return found

    def value(self, parts: dict[str, float]) -> float:
        """The weighted mean of the parts that are present."""
        weights = self.config.weights
        total = weights.learned
        score = weights.learned * parts["learned"]
        if "fit" in parts:
            total += weights.fit
            score += weights.fit * parts["fit"]
        if "preference" in parts:
            total += weights.preference
            score += weights.preference * parts["preference"]
        return score / total if total > 0 else 0.0

    def score(self, task: Task, agent: Agent) -> float:
        if task.id != self._task:  # one draw per routing decision, shared by its candidates
            self._task = task.id
            self._exploring = self.rng.random() < self.config.explore
            if self._exploring:
                self.explored += 1
        if self._exploring:
            profile = self.profiles.get(self.profile_of(agent), task.kind)
            return 1.0 - self.profiles.confidence(profile)
        return self.value(self.parts(task, agent))

    def learn(self, task: Task, agent: Agent, ok: bool, seconds: float | None) -> Profile:
        return self.profiles.record(self.profile_of(agent), task.kind, ok, seconds)


def _fraction(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return min(1.0, max(0.0, value))
