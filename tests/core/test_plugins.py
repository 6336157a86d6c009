"""Plugin loading: every start-up problem is one line naming the plugin and the cause, plugins
run in config order after what they require, and built-ins are plugins like any other."""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import alveary
import pytest
from alveary import Orchestrator, PluginError
from alveary.testing import orchestrator

if TYPE_CHECKING:
    from conftest import Dists


def plugin_errors(config: dict[str, Any], plugins: list[object] | None = None) -> list[str]:
    """The lines of the ``PluginError`` that building an orchestrator from ``config`` raises."""
    with pytest.raises(PluginError) as info:
        Orchestrator.from_config(config, plugins or [])
    lines = info.value.lines
    assert all("\n" not in line for line in lines)
    return lines


def enabling(*names: str) -> dict[str, Any]:
    return {"plugins": {"enabled": list(names)}}


# -- discovery and import ----------------------------------------------------------------------


def test_unknown_plugin_names_the_closest_installed_one() -> None:
    assert plugin_errors(enabling("memroy")) == [
        "<config>: plugins.enabled: unknown plugin 'memroy' (did you mean 'memory'?)"
    ]


def test_unknown_plugin_without_a_close_name_lists_what_is_installed(dists: Dists) -> None:
    dists.plugin("audit", "class Plugin:\n    pass\n")
    [line] = plugin_errors(enabling("zzz"))
    assert line.startswith("<config>: plugins.enabled: unknown plugin 'zzz' (installed: ")
    assert "audit" in line
    assert "memory" in line


def test_unknown_plugin_in_a_file_carries_the_line(tmp_path: Path) -> None:
    path = tmp_path / "alveary.toml"
    path.write_text('[orchestrator]\ntick_interval = 1.0\n\n[plugins]\nenabled = ["memroy"]\n')
    with pytest.raises(PluginError) as info:
        Orchestrator.from_file(path)
    assert info.value.lines == [
        f"{path}:5: plugins.enabled: unknown plugin 'memroy' (did you mean 'memory'?)"
    ]


def test_a_plugin_that_fails_to_import_is_named_with_the_cause(dists: Dists) -> None:
    module = dists.plugin("broken", "import alveary_no_such_module\n\nclass Plugin: ...\n")
    assert plugin_errors(enabling("broken")) == [
        f"plugin 'broken' ({module}:Plugin) failed to import: "
        "ModuleNotFoundError: No module named 'alveary_no_such_module'"
    ]


def test_an_entry_point_that_is_not_a_class_is_refused(dists: Dists) -> None:
    module = dists.plugin("funky", "def Plugin():\n    return None\n")
    assert plugin_errors(enabling("funky")) == [
        f"plugin 'funky': entry point {module}:Plugin is not a class"
    ]


def test_only_enabled_plugins_are_imported(dists: Dists) -> None:
    """A broken plugin that is installed but not enabled costs nothing and breaks nothing."""
    dists.plugin("broken", "raise RuntimeError('imported')\n")
    orch = Orchestrator.from_config({})
    assert "broken" not in orch.plugins


def test_every_problem_is_reported_at_once(dists: Dists) -> None:
    dists.plugin("broken", "raise RuntimeError('boom')\n")
    config = {
        "plugins": {"enabled": ["broken", "memroy"], "disabled": ["nope"], "ghost": {"a": 1}},
    }
    lines = plugin_errors(config)
    assert len(lines) == 4
    assert any("'nope' is not a built-in plugin" in line for line in lines)
    assert any("failed to import: RuntimeError: boom" in line for line in lines)
    assert any("unknown plugin 'memroy'" in line for line in lines)
    assert any("settings for plugin 'ghost'" in line for line in lines)


# -- dependencies ------------------------------------------------------------------------------


def test_a_missing_required_plugin_is_named(dists: Dists) -> None:
    dists.plugin("needy", "class Plugin:\n    requires = ('absent',)\n")
    assert plugin_errors(enabling("needy")) == [
        "plugin 'needy' requires plugin 'absent', which is not enabled (add it to plugins.enabled)"
    ]


def test_a_required_plugin_that_is_installed_but_not_enabled_is_named(dists: Dists) -> None:
    dists.plugin("base", "class Plugin: ...\n")
    dists.plugin("needy", "class Plugin:\n    requires = ('base',)\n")
    [line] = plugin_errors(enabling("needy"))
    assert line.startswith("plugin 'needy' requires plugin 'base', which is not enabled")


def test_a_dependency_cycle_is_shown(dists: Dists) -> None:
    dists.plugin("a", "class Plugin:\n    requires = ('b',)\n")
    dists.plugin("b", "class Plugin:\n    requires = ('a',)\n")
    assert plugin_errors(enabling("a", "b")) == ["plugin dependency cycle: a -> b -> a"]


def test_a_plugin_listed_twice_is_refused() -> None:
    assert plugin_errors(enabling("memory", "memory")) == [
        "<config>: plugins.enabled: plugin 'memory' is listed twice"
    ]


# -- hook implementations ----------------------------------------------------------------------

BAD_HOOKS = {
    "typo": (
        """
        from alveary import hookimpl

        class Plugin:
            @hookimpl
            def alveary_evnet(self, event):
                pass
        """,
        "implements 'alveary_evnet', which is not an alveary hook (did you mean 'alveary_event'?)",
    ),
    "arguments": (
        """
        from alveary import hookimpl

        class Plugin:
            @hookimpl
            def alveary_agent_registered(self, agent, pool):
                pass
        """,
        "alveary_agent_registered(agent, pool): 'pool' not in the spec's arguments (agent)",
    ),
    "async-hot-path": (
        """
        from alveary import hookimpl

        class Plugin:
            @hookimpl
            async def alveary_route_score(self, task, agent):
                return 1.0
        """,
        "alveary_route_score must be a plain function, not async (it runs on the hot path)",
    ),
    "unmarked": (
        """
        class Plugin:
            def alveary_event(self, event):
                pass
        """,
        "alveary_event is not marked @alveary.hookimpl, so it would never be called",
    ),
    "wrapper": (
        """
        from alveary import hookimpl

        class Plugin:
            @hookimpl(wrapper=True)
            def alveary_event(self, event):
                return (yield)
        """,
        "alveary_event: hook wrappers are not supported",
    ),
}


@pytest.mark.parametrize("case", list(BAD_HOOKS))
def test_a_bad_hook_implementation_stops_start_up(dists: Dists, case: str) -> None:
    source, problem = BAD_HOOKS[case]
    dists.plugin("bad", source)
    assert plugin_errors(enabling("bad")) == [f"plugin 'bad': {problem}"]


@pytest.mark.parametrize("case", list(BAD_HOOKS))
def test_plugin_objects_given_directly_go_through_the_same_checks(dists: Dists, case: str) -> None:
    source, problem = BAD_HOOKS[case]
    module = importlib.import_module(dists.plugin("bad", source))
    plugin = module.Plugin()
    assert plugin_errors({}, [plugin]) == [f"plugin 'Plugin': {problem}"]


def test_a_plugin_object_given_twice_is_refused() -> None:
    class Twice:
        name = "twice"

    assert plugin_errors({}, [Twice(), Twice()]) == ["plugin 'twice' is given twice"]


def test_an_impl_may_take_any_subset_of_the_spec_arguments(dists: Dists) -> None:
    dists.plugin(
        "subset",
        """
        from alveary import hookimpl

        class Plugin:
            @hookimpl
            def alveary_health_changed(self, new, agent):
                pass
        """,
    )
    assert "subset" in Orchestrator.from_config(enabling("subset")).plugins


# -- plugin configuration ----------------------------------------------------------------------

CONFIGURED = """
import attrs
from alveary import hookimpl

class Plugin:
    @attrs.frozen
    class Config:
        level: int = 1
        mode: str = "fast"

    def __init__(self, config):
        self.config = config
"""


def test_plugin_settings_are_structured_into_its_config_class(dists: Dists) -> None:
    dists.plugin("tuned", CONFIGURED)
    orch = Orchestrator.from_config(
        {"plugins": {"enabled": ["tuned"], "tuned": {"level": 3, "mode": "slow"}}}
    )
    config = orch.plugins["tuned"].config  # type: ignore[attr-defined]
    assert (config.level, config.mode) == (3, "slow")


def test_bad_plugin_settings_name_file_line_and_key(dists: Dists, tmp_path: Path) -> None:
    dists.plugin("tuned", CONFIGURED)
    path = tmp_path / "alveary.toml"
    path.write_text(
        textwrap.dedent(
            """\
            [plugins]
            enabled = ["tuned"]

            [plugins.tuned]
            level = "high"
            mdoe = "slow"
            """
        )
    )
    with pytest.raises(PluginError) as info:
        Orchestrator.from_file(path)
    assert sorted(info.value.lines) == [
        f"{path}:5: plugins.tuned.level: expected an integer, got 'high'",
        f"{path}:6: plugins.tuned.mdoe: unknown key (did you mean 'mode'?)",
    ]


def test_settings_for_a_plugin_without_config_are_refused(dists: Dists) -> None:
    dists.plugin("plain", "class Plugin: ...\n")
    assert plugin_errors({"plugins": {"enabled": ["plain"], "plain": {"x": 1}}}) == [
        "<config>: plugins.plain: plugin 'plain' takes no settings"
    ]


def test_settings_for_a_plugin_that_is_not_enabled_are_refused() -> None:
    assert plugin_errors({"plugins": {"ghost": {"x": 1}}}) == [
        "<config>: plugins.ghost: settings for plugin 'ghost', which is not enabled "
        "(add it to plugins.enabled)"
    ]


def test_a_plugin_whose_constructor_raises_is_named(dists: Dists) -> None:
    dists.plugin(
        "fragile",
        """
        class Plugin:
            def __init__(self):
                raise OSError("cannot open the socket")
        """,
    )
    assert plugin_errors(enabling("fragile")) == [
        "plugin 'fragile' failed to start: OSError: cannot open the socket"
    ]


def test_disabled_may_only_name_built_ins(dists: Dists) -> None:
    dists.plugin("extra", "class Plugin: ...\n")
    assert plugin_errors({"plugins": {"enabled": ["extra"], "disabled": ["extra"]}}) == [
        "<config>: plugins.disabled: 'extra' is not a built-in plugin "
        "(built-ins: local, memory, least-loaded); to turn a plugin off, leave it out of "
        "'enabled'"
    ]


# -- order and built-ins -----------------------------------------------------------------------


def _journaling(dists: Dists) -> list[str]:
    """Install plugins a, b, c whose ``alveary_startup`` appends their name to a shared list;
    b requires c. Returns that list."""
    journal = importlib.import_module(dists.add("alveary-journal", "calls = []\n", {}))
    for name, requires in (("a", ()), ("b", ("c",)), ("c", ())):
        dists.plugin(
            name,
            f"""
            from alveary import hookimpl
            from {journal.__name__} import calls

            class Plugin:
                requires = {requires!r}

                @hookimpl
                def alveary_startup(self):
                    calls.append({name!r})
            """,
        )
    return journal.calls  # type: ignore[no-any-return]


async def test_enabled_order_is_call_order(dists: Dists) -> None:
    calls = _journaling(dists)
    async with orchestrator({"plugins": {"enabled": ["c", "a"]}}) as orch:
        assert list(orch.plugins) == ["local", "memory", "least-loaded", "c", "a"]
    assert calls == ["c", "a"]


async def test_a_plugin_moves_after_what_it_requires(dists: Dists) -> None:
    calls = _journaling(dists)
    async with orchestrator({"plugins": {"enabled": ["b", "a", "c"]}}) as orch:
        assert list(orch.plugins)[3:] == ["a", "c", "b"]
    assert calls == ["a", "c", "b"]


def test_built_ins_are_on_by_default_and_come_from_the_core_distribution() -> None:
    orch = Orchestrator.from_config({})
    assert list(orch.plugins) == ["local", "memory", "least-loaded"]
    assert set(orch.runtimes) == {"local"}
    assert type(orch.plugins["local"]).__module__ == "alveary._builtins.local"


async def test_a_built_in_can_be_disabled_and_replaced() -> None:
    class FirstStrategy:
        """Picks the first candidate."""

        name = "first"

        def select(self, task: alveary.Task, candidates: alveary.Candidates) -> Any:
            return next(iter(candidates), None)

        @alveary.hookimpl
        def alveary_strategies(self) -> dict[str, object]:
            return {"first": self}

    config = {"orchestrator": {"strategy": "first"}, "plugins": {"disabled": ["least-loaded"]}}
    async with orchestrator(config, FirstStrategy()) as orch:
        assert list(orch.plugins) == ["local", "memory", "first"]
        await orch.register(alveary.AgentSpec("a1", options={"handler": "alveary.testing:echo"}))
        outcome = await (await orch.submit(alveary.TaskSpec("echo", payload=7))).result(5)
    assert outcome.value == 7


def test_disabling_a_built_in_that_the_config_needs_is_a_config_error() -> None:
    with pytest.raises(alveary.ConfigError) as info:
        Orchestrator.from_config({"plugins": {"disabled": ["memory"]}})
    assert info.value.lines == [
        "<config>: orchestrator.store: 'memory' is provided by built-in plugin 'memory', "
        "which is disabled"
    ]
