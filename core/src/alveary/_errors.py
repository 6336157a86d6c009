"""The exception tree. Everything alveary raises on purpose is an ``AlvearyError``, except a
bad argument, which is a ``ValueError`` as in Python's own functions: ``FieldError`` when a
record's field is wrong (it names the field), a plain one when a call's argument is (an agent
name already registered, a runtime that is not installed)."""

from __future__ import annotations

from collections.abc import Sequence


class AlvearyError(Exception):
    """Base of every error alveary raises on purpose."""


class _Lines(AlvearyError):
    """An error made of one or more self-contained lines, all reported at once."""

    def __init__(self, lines: str | Sequence[str]) -> None:
        self.lines: list[str] = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("\n".join(self.lines))


class ConfigError(_Lines):
    """The configuration is wrong. Each line names the file, line, dotted key and what was
    expected."""


class PluginError(_Lines):
    """A plugin cannot be loaded: unknown, fails to import, misses a dependency, forms a cycle,
    implements a hook that does not exist or with the wrong arguments, or has bad config."""


class FieldError(ValueError):
    """Raise from an attrs validator so the error names the key: cattrs alone cannot tell
    which field's validator raised, and ``AgentSpec(capacity=2.5)`` should say ``capacity``.

    ``str()`` is ``field: message``; config errors put ``message`` after the full dotted key
    (``plugins.x.flush_every``) and its line instead.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Rejected(AlvearyError):
    """A validation hook refused an agent or a task. Raise it from ``alveary_*_validate`` or
    ``alveary_task_before`` with the reason."""

    def __init__(self, reason: str, *, plugin: str | None = None) -> None:
        self.reason = reason
        self.plugin = plugin
        super().__init__(reason)

    def __str__(self) -> str:
        # The kernel sets ``plugin`` after the plugin raised, so the text is built here.
        return f"{self.plugin}: {self.reason}" if self.plugin else self.reason


class Denied(Rejected):
    """Authentication or authorization failed. ``unauthenticated`` is True when no plugin
    accepted the credentials (an HTTP front answers 401), False when the caller is known but
    may not act (403). ``unavailable`` is True when no decision could be made: a security
    plugin raised, overran, answered wrongly or is disabled, so the refusal says nothing
    about the caller (503)."""

    unauthenticated: bool = False
    unavailable: bool = False


class NotFound(AlvearyError, KeyError):
    """No agent or task with that id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class PermanentFailure(AlvearyError):
    """Raise from an agent to fail a task at once, without the retries it has left."""


class StartFailed(AlvearyError):
    """Something the orchestrator needs could not start: an agent (its runtime refused or
    timed out), or a plugin's service, raised from ``alveary_startup`` (a port in use, an
    address it refuses), which fails ``start()`` itself rather than only the plugin."""


class StoreError(AlvearyError):
    """The store cannot be opened or written: a missing directory, a file that is not a
    store, a schema from a newer alveary, a server that is down. The message is one line."""


class StandingBy(AlvearyError):
    """This orchestrator is a standby replica: another one leads the store they share and
    takes the work. ``leader`` names it (host and pid, as the store records it)."""

    def __init__(self, leader: str) -> None:
        self.leader = leader
        super().__init__(f"standing by: {leader} leads this store; send work there")
