"""Every state change goes through the transition tables: repos.transition and repos.key_transition move
what the table allows (compare-and-set) and refuse everything else, changing nothing; on SQLite and on
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.domain.keys import KEY_TRANSITIONS, KeyState
from bot.domain.requests import TRANSITIONS, Kind, State
from bot.errors import IllegalTransition
from bot.storage import repos
from bot.storage.db import session_scope
from bot.storage.tables import KeyRecord, Request

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S, K = State, KeyState

# The moves the code makes, as the module docstrings draw them.
REQUEST_MOVES = {
    (S.PENDING, S.APPROVED), (S.PENDING, S.REVOKING), (S.PENDING, S.DENIED), (S.PENDING, S.EXPIRED),
    (S.PENDING, S.CANCELLED), (S.APPROVED, S.REVEALING), (S.APPROVED, S.LAPSED), (S.APPROVED, S.CANCELLED),
    (S.REVEALING, S.REVEALED), (S.REVEALING, S.APPROVED), (S.REVEALING, S.LAPSED), (S.REVEALING, S.FAILED),
    (S.REVEALED, S.DONE), (S.REVOKING, S.DONE),
    (S.PENDING, S.UPDATING), (S.UPDATING, S.DONE), (S.UPDATING, S.FAILED),
}
KEY_MOVES = {
    (K.DELIVERING, K.ACTIVE), (K.DELIVERING, K.DELETED), (K.ACTIVE, K.DELETE_PENDING), (K.ACTIVE, K.DELETED),
    (K.ACTIVE, K.GONE), (K.DELETE_PENDING, K.DELETED), (K.DELETE_PENDING, K.GONE),
}


def add_request(engine: Engine, request_id: str, state: State) -> None:
    with session_scope(engine) as s:
        s.add(Request(id=request_id, kind=Kind.CREATE.value, state=state.value, requester="U1", sub_account="sub",
                      created_at=NOW, expires_at=NOW))


def request_now(engine: Engine, request_id: str) -> tuple[str, int]:
    with session_scope(engine) as s:
        row = repos.get_request(s, request_id=request_id)
        assert row is not None
        return row.state, row.version


def add_key(engine: Engine, api_key: str, state: KeyState) -> None:
    with session_scope(engine) as s:
        s.add(KeyRecord(api_key=api_key, sub_account="sub", created_at=NOW, state=state.value))


def key_now(engine: Engine, api_key: str) -> tuple[str, int]:
    with session_scope(engine) as s:
        key = repos.get_key(s, api_key=api_key)
        assert key is not None
        return key.state, key.version


def test_the_tables_hold_exactly_the_moves_the_workflows_make() -> None:
    """The request and key tables allow the documented moves and nothing else."""
    assert {(src, dst) for src, dsts in TRANSITIONS.items() for dst in dsts} == REQUEST_MOVES
    assert {(src, dst) for src, dsts in KEY_TRANSITIONS.items() for dst in dsts} == KEY_MOVES


@dataclass(frozen=True)
class Subject:
    """What moves (a request or a key): how to add one in a state, read it back, and move it."""

    what: str
    moves: set[tuple[Any, Any]]
    add: Callable[[Engine, str, Any], None]
    now: Callable[[Engine, str], tuple[str, int]]
    move: Callable[[Session, str, Any, Any], bool]


REQUESTS = Subject("request", REQUEST_MOVES, add_request, request_now,
                   lambda s, ref, src, dst: repos.transition(s, request_id=ref, src=src, dst=dst))
KEYS = Subject("key", KEY_MOVES, add_key, key_now,
               lambda s, ref, src, dst: repos.key_transition(s, api_key=ref, src=(src,), dst=dst))


@pytest.mark.parametrize(("subject", "src"), [(REQUESTS, s) for s in State] + [(KEYS, k) for k in KeyState],
                         ids=[f"request-{s}" for s in State] + [f"key-{k}" for k in KeyState])
def test_a_state_moves_only_as_the_table_allows(engine: Engine, subject: Subject, src: Any) -> None:
    """From each request or key state, every allowed destination is reached by compare-and-set; every other
    one raises IllegalTransition naming the move, and the row keeps its state and version."""
    moved, refused = set(), set()
    for dst in type(src):
        ref = f"KK-{src.value}-{dst.value}"
        subject.add(engine, ref, src)
        try:
            with session_scope(engine) as s:
                assert subject.move(s, ref, src, dst)
            assert subject.now(engine, ref) == (dst, 1)
            moved.add(dst)
        except IllegalTransition as exc:
            assert (exc.what, exc.ref, exc.src, exc.dst) == (subject.what, ref, src, dst)
            assert subject.now(engine, ref) == (src, 0)
            refused.add(dst)
    assert moved == {d for s, d in subject.moves if s == src}
    assert refused == set(type(src)) - moved


def test_every_source_given_is_checked_even_when_the_row_is_in_a_legal_one(engine: Engine) -> None:
    """A move listing one illegal source is refused as a whole, although the row's own state may move."""
    add_request(engine, "KK-MIXED", State.PENDING)
    add_key(engine, "k-mixed", KeyState.ACTIVE)
    with pytest.raises(IllegalTransition) as request_error, session_scope(engine) as s:
        repos.transition(s, request_id="KK-MIXED", src=(State.PENDING, State.DONE), dst=State.CANCELLED)
    with pytest.raises(IllegalTransition) as key_error, session_scope(engine) as s:
        repos.key_transition(s, api_key="k-mixed", src=(KeyState.ACTIVE, KeyState.GONE), dst=KeyState.DELETED)
    assert (request_error.value.src, key_error.value.src) == (State.DONE, KeyState.GONE)
    assert (request_now(engine, "KK-MIXED"), key_now(engine, "k-mixed")) == (("pending", 0), ("active", 0))


def test_the_second_of_two_equal_moves_loses_and_changes_nothing(engine: Engine) -> None:
    """Compare-and-set: the first move wins and bumps the version; the same move again returns False."""
    add_request(engine, "KK-TWICE", State.PENDING)
    add_key(engine, "k-twice", KeyState.ACTIVE)
    for expected in (True, False):
        with session_scope(engine) as s:
            assert repos.transition(s, request_id="KK-TWICE", src=State.PENDING, dst=State.DENIED) is expected
            assert repos.key_transition(s, api_key="k-twice", src=(KeyState.ACTIVE,),
                                        dst=KeyState.DELETED, deleted_at=NOW) is expected
    assert (request_now(engine, "KK-TWICE"), key_now(engine, "k-twice")) == (("denied", 1), ("deleted", 1))
