"""Dependencies point inward: Slack handlers -> services -> domain; adapters stay at the edge."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"
STDLIB_ONLY = {"bot.domain"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules(package: str) -> list[tuple[str, set[str]]]:
    root = BOT.parent / package.replace(".", "/")
    return [(str(p.relative_to(BOT.parent)), _imports(p)) for p in sorted(root.rglob("*.py"))]


def _offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{name} imports {imp}" for name, imports in _modules(package) for imp in sorted(imports)
            if any(imp == f or imp.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize(("package", "forbidden"), [
    ("bot.domain", ("bot.services", "bot.slack", "bot.storage", "bot.kucoin", "bot.security", "kukey_sandbox",
                    "bot.app", "slack_bolt", "slack_sdk", "httpx", "sqlmodel", "sqlalchemy", "pyotp",
                    "cryptography")),
    ("bot.services", ("bot.slack", "kukey_sandbox", "bot.app", "bot.kucoin.client", "bot.kucoin.transport",
                      "slack_bolt", "slack_sdk", "httpx")),
    ("bot.kucoin", ("bot.services", "bot.slack", "bot.storage", "kukey_sandbox", "bot.app", "slack_bolt",
                    "slack_sdk")),
    ("bot.storage", ("bot.services", "bot.slack", "bot.kucoin", "kukey_sandbox", "bot.app", "slack_bolt",
                     "slack_sdk", "httpx")),
    ("bot.security", ("bot.services", "bot.slack", "bot.kucoin", "kukey_sandbox", "bot.app", "slack_bolt",
                      "slack_sdk", "httpx")),
    ("bot.ops", ("bot.slack", "bot.kucoin", "kukey_sandbox", "bot.app", "slack_bolt", "slack_sdk")),
])
def test_layers_do_not_reach_outward(package: str, forbidden: tuple[str, ...]) -> None:
    """Inner layers never import outer ones (or the libraries of the outer world)."""
    assert _offenders(package, forbidden) == []


def test_only_the_slack_package_imports_slack_libraries() -> None:
    """slack_bolt / slack_sdk appear only in bot/slack (and the composition root)."""
    outside = [
        f"{name} imports {imp}"
        for package in ("bot.domain", "bot.services", "bot.storage", "bot.security", "bot.kucoin", "bot.cli",
                        "bot.preflight", "kukey_sandbox", "kukey_sandbox.demo")
        for name, imports in _modules(package) for imp in imports
        if imp.split(".")[0] in {"slack_bolt", "slack_sdk"}
    ]
    assert outside == []


def test_domain_is_standard_library_only() -> None:
    """bot/domain imports nothing but the standard library, itself and the error tree."""
    import sys

    bad = [f"{name} imports {imp}" for name, imports in _modules("bot.domain") for imp in imports
           if imp.split(".")[0] not in sys.stdlib_module_names and imp.split(".")[0] != "__future__"
           and not imp.startswith(("bot.domain", "bot.errors"))]
    assert bad == []


def test_production_code_never_imports_the_sandboxes() -> None:
    """No module of the kukey package imports kukey_sandbox (the optional extra with the fakes and the demo)."""
    bad = [f"{name} imports {imp}" for name, imports in _modules("bot") for imp in imports
           if imp.split(".")[0] == "kukey_sandbox"]
    assert bad == []


def test_the_slack_layer_never_imports_the_composition_root() -> None:
    """bot.slack receives the services in `register(app, services)`; importing bot.app would be a cycle."""
    assert _offenders("bot.slack", ("bot.app",)) == []
