"""The gatekeeper: who is asking, and may they? Every kernel action goes through it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ._errors import Denied, NotFound
from ._events import EventBus
from ._hooks import Hooks
from ._records import ANONYMOUS, Principal

T = TypeVar("T")

ACTIONS: Mapping[str, str] = {
    "task.submit": "submit a task; the resource is its kind",
    "task.cancel": "cancel a task (its kind)",
    "task.requeue": "run a dead or failed task again (its kind)",
    "task.read": "read a task (its kind), or list tasks (a kind, or *)",
    "task.approve": "approve or reject a command a task waits on (its kind)",
    "agent.register": "register an agent (its name)",
    "agent.deregister": "take an agent out (its name)",
    "agent.drain": "drain an agent (its name)",
    "agent.read": "read an agent (its name), or list agents (*)",
    "pool.read": "list the pools and their sizes (*)",
    "pool.resize": "change a pool's minimum and maximum (its name)",
    "events.read": "follow the event stream (*)",
}
"""Every action checked through ``alveary_authorize``, by the kernel and by the gateway, with
what its resource is. Security plugins grant these; front ends check them, no others."""


class Gatekeeper:
    """Turns credentials into a principal and checks an action on a resource.

    With no security plugin every caller is ``anonymous`` and allowed. Once a plugin
    implements ``alveary_authenticate`` or ``alveary_authorize``, every action is checked and
    fails closed: a refusal, an error, an overrun or a disabled implementer denies, with a
    ``security.denied`` event saying why.
    """

    __slots__ = ("_events", "_hooks")

    def __init__(self, hooks: Hooks, events: EventBus) -> None:
        self._hooks = hooks
        self._events = events

    async def check(
        self, credentials: Mapping[str, Any] | None, action: str, resource: str
    ) -> Principal:
        """The principal allowed to do ``action`` on ``resource``; raises ``Denied``."""
        return await self._check(credentials, action, resource, authorize=True)

    async def check_found(
        self,
        credentials: Mapping[str, Any] | None,
        action: str,
        find: Callable[[], T],
        resource: Callable[[T], str],
    ) -> tuple[T, Principal]:
        """``check`` on what ``find`` returns (an agent, a task), named by ``resource``.

        When ``find`` raises ``NotFound``, the caller is authenticated before it is told: one
        who cannot authenticate learns nothing, not even which ids exist.
        """
        try:
            found = find()
        except NotFound:
            await self._check(credentials, action, "?", authorize=False)
            raise
        return found, await self._check(credentials, action, resource(found), authorize=True)

    async def _check(
        self, credentials: Mapping[str, Any] | None, action: str, resource: str, *, authorize: bool
    ) -> Principal:
        hooks = self._hooks
        if not hooks.has_security:
            return ANONYMOUS
        principal = ANONYMOUS
        step = "not authenticated"
        try:
            if hooks.has_authn:
                principal = await hooks.authenticate(credentials or {})
            step = "not authorized"
            if authorize and hooks.has_authz:
                await hooks.authorize(principal, action, resource)
        except Denied as exc:
            data: dict[str, Any] = {
                "action": action,
                "resource": resource,
                "reason": step,
                "detail": str(exc),
            }
            if principal is not ANONYMOUS:
                data["principal"] = principal.id
            if exc.unavailable:
                data["unavailable"] = True
            self._events.emit("security.denied", data=data)
            exc.unauthenticated = step == "not authenticated"
            raise
        return principal
