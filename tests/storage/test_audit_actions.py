"""Audit action names live in one enum (bot.domain.actions.AuditAction): no module of kukey spells one as
a string, and every record() call names its action with the enum."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.domain.actions import AuditAction

BOT = Path(__file__).resolve().parents[2] / "bot"
ENUM_MODULE = BOT / "domain" / "actions.py"


def _trees() -> list[tuple[str, ast.Module]]:
    return [(str(p.relative_to(BOT.parent)), ast.parse(p.read_text(encoding="utf-8")))
            for p in sorted(BOT.rglob("*.py")) if p != ENUM_MODULE]


def test_no_module_spells_an_audit_action_as_a_string() -> None:
    """No string constant anywhere in bot/ (outside the enum) is an audit action's name."""
    names = {a.value for a in AuditAction}
    found = [f"{path}:{node.lineno} {node.value!r}" for path, tree in _trees() for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and node.value in names]
    assert found == []


def test_every_record_call_names_its_action_with_the_enum() -> None:
    """AuditLog.record's action argument is never a literal or a formatted string (f"{what}.refused")."""
    calls = [(path, node) for path, tree in _trees() for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "record"
             and len(node.args) >= 2]
    assert calls, "no record() calls found: the test would prove nothing"
    bad = [f"{path}:{node.lineno}" for path, node in calls
           if isinstance(node.args[1], ast.Constant | ast.JoinedStr | ast.BinOp)]
    assert bad == []


def test_every_audit_action_is_recorded_somewhere() -> None:
    """Each member of AuditAction is named by some module of kukey (no dead names in the enum)."""
    used = {node.attr for _, tree in _trees() for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "AuditAction"}
    assert {a.name for a in AuditAction} - used == set()
