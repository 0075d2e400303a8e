"""Small policy documents for the tests, and the problems the loader finds in one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.policy_file import PolicyErrors, load_policy_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "policy.example.toml"
FILE = "team.toml"
ANY_RULE = '[[rules]]\nmatch = "*"\n'


def doc(top: str = "", groups: str = "", defaults: str = "", rules: str = ANY_RULE,
        channel: str = 'approvals_channel = "C0APPROVALS"\n') -> str:
    """A small policy: the approvals channel, two approvers, one catch-all rule, plus the given lines."""
    text = channel + top + "\n[groups]\n" + (groups or 'approvers = ["U0BOB0001", "U0CAROL01"]') + "\n"
    if defaults:
        text += "[defaults]\n" + defaults + "\n"
    return text + rules


def problems(text: str) -> list[tuple[str, str]]:
    """(key, printed line) of every problem in `text`, checking each names the file."""
    with pytest.raises(PolicyErrors) as caught:
        load_policy_text(text, file=FILE)
    for p in caught.value.problems:
        assert p.file == FILE
        assert str(p).startswith(f"{FILE}: {p.key}: " if p.key else f"{FILE}: ")
    return [(p.key, str(p)) for p in caught.value.problems]
