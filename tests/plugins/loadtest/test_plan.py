"""Plans: every mistake is one line naming the file, the key and what was expected."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest
from alveary_loadtest import Arrival, PlanError, parse, read
from alveary_loadtest._arrivals import arrivals, choose

from .conftest import SMOKE, loadtest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def test_an_empty_plan_has_defaults() -> None:
    plan = parse({})
    assert plan.phases == ("spawn", "delegation", "concurrent", "stress")
    assert plan.targets.spawn_seconds == 10
    assert plan.targets.latency_p95_ms == 500
    assert plan.targets.completion == 0.85
    assert plan.capabilities == {"loadtest"}


def test_the_smoke_plan_reads() -> None:
    plan = read(str(SMOKE))
    assert [m.kind for m in plan.mix] == ["quick", "slow"]
    assert plan.mix[1].payload == {"note": 'it\'s "$(id)"', "flag": "--rm", "work": 0.05}
    assert plan.stress.arrival.pattern == "step"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[concurrent]\nrate = nan", "concurrent.rate: expected a number > 0, got nan"),
        ("[concurrent]\nrate = inf", "concurrent.rate: expected a number > 0, got inf"),
        ("[stress]\nrate = 0", "stress.rate: expected a number > 0, got 0"),
        ("[stress]\npattern = 'burst'", "stress.pattern: expected one of constant, ramp"),
        ("[[mix]]\nkind = 'a'\nweight = 0", "mix: expected weights summing to more than 0"),
        ("[[mix]]\nkind = 'a'\nweight = -1", "mix[0].weight: expected a number >= 0, got -1"),
        ("[loadtest]\nphases = ['spawn', 'soak']", "loadtest.phases[1]: expected one of spawn"),
        ("[loadtest]\nphases = ['spawn', 'spawn']", "loadtest.phases: expected each phase"),
        ("[spawn]\nagents = 0", "spawn.agents: expected an integer >= 1, got 0"),
        ("[spawn]\nagents = true", "spawn.agents: expected an integer >= 1, got True"),
        ("[spawn]\nagents = 2.5", "spawn.agents: expected an integer >= 1, got 2.5"),
        ("[targets]\ncompletion = 1.5", "targets.completion: expected a number >= 0 and <= 1"),
        ("[targets]\nlatency_p95 = 3", "targets.latency_p95: expected a known key"),
        ("[ramp]\nrate = 3", "ramp: expected a known key"),
        ("[[mix]]\nweight = 1", "mix[0].kind: expected a non-empty string, got None"),
        ("[[mix]]\nkind = '--rm'\nrequires = ['']", "mix[0].requires: expected a list"),
        ("[[mix]]\nkind = 'a'\npayload = [1]\nwork = 1", "mix[0].payload: expected a table"),
        ("mix = []", "mix: expected one or more [[mix]] tables"),
        ("[stress]\npattern = 'ramp'\nrate = 5\nto_rate = 1", "stress.to_rate: expected a rate"),
        ("spawn = 3", "spawn: expected a table, got 3"),
    ],
)
def test_a_bad_value_names_its_key(text: str, says: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse(tomllib.loads(text), "plan.toml")
    assert str(caught.value).startswith(f"plan.toml: {says}")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"[concurrent]\nrate = nan\n", "bad.toml:2: concurrent.rate: expected a number > 0"),
        (
            b"[loadtest]\nseed = 1\n\n[[mix]]\nkind = 'a'\n\n[[mix]]\nkind = ''\n",
            "bad.toml:8: mix[1].kind",
        ),
        (b"[spawn\n", "bad.toml:1: invalid TOML:"),
        (b"\xff\xfe", "bad.toml:1: not UTF-8 text"),
        (b"a = " + b"[" * 5000 + b"]" * 5000, "bad.toml: nested more than 32 levels deep"),
    ],
)
async def test_the_command_says_one_line_and_exits_2(
    tmp_path: Path, content: bytes, says: str
) -> None:
    (tmp_path / "bad.toml").write_bytes(content)
    status, out, err = await loadtest("bad.toml", cwd=tmp_path)
    assert (status, out) == (2, "")
    assert err.startswith(f"alveary loadtest: {says}")
    assert err.count("\n") == 1


async def test_a_missing_plan_and_a_bad_baseline_are_one_line(tmp_path: Path) -> None:
    status, _, err = await loadtest("--", "-missing.toml", cwd=tmp_path)
    assert status == 2
    assert err == "alveary loadtest: -missing.toml: no such file\n"
    status, _, err = await loadtest("/dev/zero", cwd=tmp_path)  # never read to its end
    assert status == 2
    assert err == "alveary loadtest: /dev/zero: not a regular file (a FIFO, a device, a socket?)\n"
    (tmp_path / "base.json").write_text('{"metrics": 3}')
    status, _, err = await loadtest(str(SMOKE), "--baseline", "base.json", cwd=tmp_path)
    assert status == 2
    assert err == "alveary loadtest: base.json: metrics: expected a table of a loadtest report\n"


def test_arrivals_follow_their_pattern() -> None:
    rng = random.Random(1)
    assert len(list(arrivals(Arrival("constant", 10.0), 2.0, rng))) == 20
    ramp = list(arrivals(Arrival("ramp", 10.0, 30.0), 2.0, rng))
    assert 20 < len(ramp) < 60
    assert ramp[1] - ramp[0] > ramp[-1] - ramp[-2]  # arrivals come closer as the rate climbs
    step = list(arrivals(Arrival("step", 10.0, step=10.0, every=1.0), 2.0, rng))
    assert 29 <= len(step) <= 30  # 10 in the first second, 20 in the second
    one = list(arrivals(Arrival("poisson", 50.0), 10.0, random.Random(5)))
    two = list(arrivals(Arrival("poisson", 50.0), 10.0, random.Random(5)))
    assert one == two  # seeded: the same run twice
    assert 350 < len(one) < 650


def test_the_mix_is_drawn_by_weight() -> None:
    plan = parse(
        {
            "mix": [
                {"kind": "a", "weight": 3},
                {"kind": "b", "weight": 1},
                {"kind": "c", "weight": 0},
            ]
        }
    )
    rng = random.Random(2)
    drawn = [choose(plan.mix, rng).kind for _ in range(4000)]
    assert "c" not in drawn
    assert 2600 < drawn.count("a") < 3400


def test_the_plans_in_the_docs_are_good_plans() -> None:
    page = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "loadtest.md"
    blocks = re.findall(r"```toml\n(.*?)\n```", page.read_text(encoding="utf-8"), re.DOTALL)
    plans = [b for b in blocks if "[loadtest]" in b]
    assert len(plans) == 2
    for block in plans:
        parse(tomllib.loads(block), "docs")
    shown, smoke = parse(tomllib.loads(plans[0]), "docs"), read(str(SMOKE))
    for part in ("phases", "seed", "spawn", "delegation", "concurrent", "stress"):
        assert getattr(shown, part) == getattr(smoke, part), part


@pytest.mark.parametrize("every", ["nan", "-1", "0", "$(id)"])
async def test_a_bad_progress_interval_is_bad_usage(tmp_path: Path, every: str) -> None:
    status, out, err = await loadtest(str(SMOKE), "--progress-every", every, cwd=tmp_path)
    assert (status, out) == (2, "")
    assert "argument --progress-every: expected seconds" in err
