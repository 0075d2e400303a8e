""".env.example lists exactly the variables bot/config.py reads, each with a comment and no real value."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import Settings
from bot.domain.secret import is_secret_name

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / ".env.example"
_LITERAL = re.compile(r"""["']((?:KUCOIN|SLACK|KUKEY)_[A-Z0-9_]+)["']""")
_ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")


def variables_read_by_config() -> set[str]:
    """Every environment variable name that appears as a string literal in bot/config.py."""
    return set(_LITERAL.findall((ROOT / "bot" / "config.py").read_text(encoding="utf-8")))


def example_assignments() -> dict[str, tuple[str, str]]:
    """NAME -> (value, the comment line just above it)."""
    out: dict[str, tuple[str, str]] = {}
    previous = ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            assert match.group(1) not in out, f"{match.group(1)} is listed twice"
            out[match.group(1)] = (match.group(2), previous)
        previous = line
    return out


def test_example_lists_exactly_the_variables_config_reads() -> None:
    """Every variable bot/config.py reads is in .env.example, and .env.example lists no other."""
    read = variables_read_by_config()
    listed = set(example_assignments())
    assert len(read) >= 14
    assert read - listed == set(), f"missing from .env.example: {read - listed}"
    assert listed - read == set(), f"in .env.example but never read: {listed - read}"


def test_each_variable_has_a_comment_and_secrets_are_empty() -> None:
    """Each variable has a one-line comment above it, and every secret-looking one is left empty."""
    for name, (value, comment) in example_assignments().items():
        assert comment.startswith("# ") and len(comment) > 10, f"{name} has no comment line above it"
        if is_secret_name(name) or name.endswith(("_KEY", "_TOKEN")):
            assert value == "", f"{name} must be empty in the example"
        assert not value.startswith(("xox", "xapp")), name


def test_the_example_as_an_environment_is_valid_configuration() -> None:
    """Read as an environment, the example's values pass Settings validation (no typos in its defaults)."""
    env = {name: value for name, (value, _) in example_assignments().items()}
    settings = Settings.from_env(env)
    assert settings.kucoin_api_url == "https://api.kucoin.com"
    assert settings.master_key is None
