"""The audit category of each kernel action: the task family (approving a command included)
is ``authorization`` when refused and ``modification`` or ``data_access`` when allowed; a
refusal outside it is ``privilege_escalation``."""

from __future__ import annotations

import json
from pathlib import Path

import alveary
import pytest
from alveary import Denied, Principal, structure
from alveary_security import Config, Security

NONE = Principal("nobody", frozenset({"none"}))
ALL = Principal("root", frozenset({"all"}))


@pytest.mark.parametrize("action", sorted(alveary.ACTIONS))
def test_each_action_is_audited_in_its_category(tmp_path: Path, action: str) -> None:
    roles = {"none": {"allow": []}, "all": {"allow": ["*"]}}
    audit = tmp_path / "audit.jsonl"
    security = Security(structure({"roles": roles, "audit_log": str(audit)}, Config))
    with pytest.raises(Denied):
        security.alveary_authorize(NONE, action, "r")
    assert security.alveary_authorize(ALL, action, "r") is True
    assert security.audit is not None
    security.audit.flush()
    denied, allowed = (json.loads(line)["category"] for line in audit.read_text().splitlines())
    family = action.partition(".")[0]
    assert denied == ("authorization" if family in {"task", "events"} else "privilege_escalation")
    reads = {"task.read", "events.read"}
    assert allowed == (
        "data_access"
        if action in reads
        else "modification"
        if family == "task"
        else "administration"
    )
