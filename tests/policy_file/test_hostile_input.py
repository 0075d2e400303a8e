"""Whatever the loader is given, it returns a Policy or raises PolicyError, never anything else."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import PolicyError
from bot.policy_file import load_policy_text, policy_from_dict
from tests.policy_file.documents import EXAMPLE, FILE


def test_absurd_toml_is_a_policy_error() -> None:
    """Deep nesting and giant numbers, which make tomllib raise other errors, still become PolicyError."""
    for text in ["x = " + "[" * 5000 + "]" * 5000, "x = " + "9" * 5000]:
        with pytest.raises(PolicyError):
            load_policy_text(text)


KEYS = st.sampled_from(["approvals_channel", "incident_channels", "audit_channel", "checkpoint_minutes",
                        "totp_max_failures", "groups", "defaults", "rules", "match", "approvals",
                        "approver_group", "allowed_permissions", "max_expire_days", "max_keys",
                        "requesters", "approvers", "require_requester_totp", "x"])
SCALARS = st.one_of(st.text(max_size=12), st.integers(), st.floats(), st.booleans(), st.datetimes(),
                    st.dates(), st.times(), st.sampled_from(["C0APPROVALS", "U0BOB0001", "S0OPS", "*",
                                                             "never", "Spot", "approvers", "Transfer"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(KEYS, st.text(max_size=6)), inner, max_size=5)),
    max_leaves=12)
DOCS = st.dictionaries(st.one_of(KEYS, st.text(max_size=6)), VALUES, max_size=8)


@settings(max_examples=200, deadline=None)
@given(DOCS)
def test_arbitrary_documents_raise_only_policy_error(data: dict[str, object]) -> None:
    """Any dictionary of TOML-like values either validates or raises PolicyError, never anything else."""
    try:
        policy_from_dict(data, file=FILE)
    except PolicyError as exc:
        assert str(exc).startswith(FILE)


LINES = st.one_of(
    st.sampled_from(['approvals_channel = "C0APPROVALS"', "[groups]", 'approvers = ["U0BOB0001"]',
                     "[[rules]]", 'match = "*"', "[defaults]", "approvals = 2", "max_keys = 0",
                     'max_expire_days = "never"', "[rules]", "rules = []", "x = [1, [2]]", "= 3", "[",
                     'approver_group = ["U1"]', "allowed_permissions = [1, true]"]),
    st.text(max_size=30))


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(LINES, max_size=12).map("\n".join)))
def test_arbitrary_text_raises_only_policy_error(text: str) -> None:
    """Any text, TOML or not, either validates or raises PolicyError, never anything else."""
    try:
        load_policy_text(text, file=FILE)
    except PolicyError as exc:
        assert exc.file == FILE


def _paths(node: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path to a value inside a parsed TOML document."""
    out: list[tuple[object, ...]] = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*path, index))
    return out


EXAMPLE_DATA = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_paths(EXAMPLE_DATA)), VALUES)
def test_example_with_any_one_value_replaced_raises_only_policy_error(path: tuple[object, ...],
                                                                     value: object) -> None:
    """Replacing any single value of the valid example with anything validates or raises PolicyError."""
    data = copy.deepcopy(EXAMPLE_DATA)
    node: Any = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    try:
        policy_from_dict(data, file=FILE)
    except PolicyError as exc:
        assert all(p.key for p in getattr(exc, "problems", (exc,)))
