"""The services know exchanges only through the Exchange port: domain types in and out, no KuCoin import."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

from bot.services.ports import Exchange

SERVICES = Path(__file__).resolve().parents[2] / "bot" / "services"


def test_no_service_imports_the_kucoin_adapter() -> None:
    """Nothing in bot/services imports bot.kucoin: KuCoin's key format, rate pools and wire names stay there."""
    found = []
    for path in sorted(SERVICES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {n}" for n in names if n == "bot.kucoin" or n.startswith("bot.kucoin.")]
    assert found == []


def test_the_port_speaks_only_typed_values() -> None:
    """No method or property of the Exchange port takes or returns Any."""
    loose, checked = [], []
    for name, member in vars(Exchange).items():
        target = member.fget if isinstance(member, property) else member
        if name.startswith("_") or not callable(target):
            continue
        hints = typing.get_type_hints(target)
        checked.append(name)
        loose += [f"{name}.{arg}" for arg, hint in hints.items() if hint is typing.Any]
    assert sorted(checked) == ["create_key", "delete_key", "delete_wait", "key_ids", "list_keys", "list_sub_accounts",
                               "max_parallel_deletes", "name", "new_passphrase", "ready_deletes", "update_key"]
    assert loose == []
