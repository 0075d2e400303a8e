"""Writing the audit log: fields, the documented HMAC, secret guards, fail-closed, append-only triggers; on
SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.domain.clock import FakeClock
from bot.domain.secret import Secret
from bot.errors import AuditWriteError, UsageError
from bot.security.crypto import key_id
from bot.storage import audit, audit_chain, audit_read, audit_verify
from bot.storage.audit import AuditLog
from bot.storage.audit_rekey import rekey_audit
from bot.storage.db import session_scope
from bot.storage.tables import KeyRecord
from tests.databases import connect, rows
from tests.storage.audit_helpers import fill, new_master, open_engine

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def test_events_are_numbered_linked_and_read_back_whole(engine: Engine, clock: FakeClock) -> None:
    """record() returns seq 1..n; events() reads back every field, the first links to 64 zeros."""
    log = AuditLog(new_master(), clock)
    with session_scope(engine) as s:
        assert log.record(s, "request.created", actor="U1", request_id="KK-1", sub_account="sub-a",
                          detail={"permissions": "General,Spot", "ips": ["10.0.0.1"]}) == 1
        clock.advance(1.5)
        assert log.record(s, "key.created", actor="kukey", request_id="KK-1", sub_account="sub-a",
                          api_key="6740d3f0c1b2a30001a1b2c3") == 2
    with session_scope(engine) as s:
        first, second = audit_read.events(s)
        assert audit.head(s) == (2, second.hash)
    assert [(e.seq, e.ts, e.actor, e.action, e.request_id, e.sub_account, e.api_key, e.outcome, e.detail)
            for e in (first, second)] == [
        (1, "2026-03-01T12:00:00.000000+00:00", "U1", "request.created", "KK-1", "sub-a", None, "ok",
         {"ips": ["10.0.0.1"], "permissions": "General,Spot"}),
        (2, "2026-03-01T12:00:01.500000+00:00", "kukey", "key.created", "KK-1", "sub-a",
         "6740d3f0c1b2a30001a1b2c3", "ok", {}),
    ]
    assert (first.prev_hash, second.prev_hash) == ("0" * 64, first.hash)
    assert first.at == START


def test_hash_is_the_documented_hmac_of_canonical_json(engine: Engine, clock: FakeClock, database_url: str) -> None:
    """An outsider can recompute the hash: HMAC-SHA256(HKDF(master, "kukey audit v1"), canonical JSON)."""
    master = new_master()
    with session_scope(engine) as s:
        AuditLog(master, clock).record(s, "policy.loaded", actor="kukey", outcome="ok",
                                       detail={"rules": 3, "file": "pölicy.toml"})
    (values,) = rows(database_url, f"SELECT {', '.join(audit_chain.COLUMNS)} FROM audit_event")  # noqa: S608
    stored = dict(zip(audit_chain.COLUMNS, values, strict=True))
    assert stored["detail"] == '{"file":"p\\u00f6licy.toml","rules":3}'
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kukey audit v1").derive(master)
    fields = {k: v for k, v in stored.items() if k != "hash"}
    message = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    assert stored["hash"] == hmac.new(key, message, hashlib.sha256).hexdigest()
    assert stored["key_id"] == key_id(master)


@given(st.lists(st.one_of(st.none(), st.text()), min_size=4, max_size=4), st.text(), st.integers(1, 2**40))
def test_fast_canonical_form_equals_json_dumps(nullable: list[str | None], value: str, seq: int) -> None:
    """The hand-written canonical form is byte for byte json.dumps(sort_keys, compact, ensure_ascii)."""
    fields = dict(seq=seq, ts=value, actor=value, action=value, request_id=nullable[0],
                  sub_account=nullable[1], api_key=nullable[2], outcome=value, detail=value, key_id=value,
                  prev_hash=nullable[3] or "")
    expected = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    assert audit_chain.content(**fields) == expected  # type: ignore[arg-type]


def test_events_filters_by_time_sub_account_and_limit(engine: Engine, clock: FakeClock) -> None:
    """since, sub_account, limit and newest_first select and order events as asked."""
    log = AuditLog(new_master(), clock)
    fill(engine, log, clock, 4, sub_account="sub-a")
    fill(engine, log, clock, 2, sub_account="sub-b")
    with session_scope(engine) as s:
        assert [e.seq for e in audit_read.events(s, since=START + timedelta(seconds=3))] == [3, 4, 5, 6]
        assert [e.seq for e in audit_read.events(s, sub_account="sub-b")] == [5, 6]
        assert [e.seq for e in audit_read.events(s, limit=2, newest_first=True)] == [6, 5]
        assert [e.seq for e in audit_read.events(s, after_seq=4)] == [5, 6]
        assert audit_read.events(s, sub_account="sub-a", limit=1) == audit_read.events(s, limit=1)


@pytest.mark.parametrize("detail", [
    {"passphrase": "x"},
    {"totp_code": "123456"},
    {"nested": {"api_secret": "5f2b1c3e"}},
    {"value": Secret("hunter2")},
    {"list": [{"seed": "JBSWY3DP"}]},
    {"when": object()},
])
def test_detail_with_a_secret_or_bad_value_is_refused_and_rolls_back(engine: Engine, clock: FakeClock,
                                                                      detail: dict[str, object]) -> None:
    """A detail field named like a secret, a Secret value, or a non-JSON value raises AuditWriteError and
    the caller's change in the same transaction is rolled back."""
    log = AuditLog(new_master(), clock)
    with pytest.raises(AuditWriteError) as caught, session_scope(engine) as s:
        s.add(KeyRecord(api_key="k1", sub_account="sub-a", created_at=START))
        s.flush()
        log.record(s, "key.created", actor="U1", detail=detail)
    assert "hunter2" not in str(caught.value)
    with session_scope(engine) as s:
        assert s.exec(select(KeyRecord)).all() == []
        assert audit.head(s) == (0, "0" * 64)


def test_error_codes_times_and_sets_are_welcome_in_detail(engine: Engine, clock: FakeClock) -> None:
    """kucoin_code and error_code are not secrets; datetimes and sets are stored in a stable form."""
    log = AuditLog(new_master(), clock)
    with session_scope(engine) as s:
        log.record(s, "key.failed", actor="kukey", outcome="failed",
                   detail={"kucoin_code": "400100", "error_code": 7, "at": START,
                           "perms": {"Spot", "General"}})
        (event,) = audit_read.events(s)
    assert event.detail == {"at": "2026-03-01T12:00:00+00:00", "error_code": 7, "kucoin_code": "400100",
                            "perms": ["General", "Spot"]}


AUDIT_DOWN = {
    "sqlite": ["CREATE TRIGGER test_audit_down BEFORE INSERT ON audit_event "
               "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"],
    "postgresql": ["CREATE FUNCTION test_audit_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "RAISE EXCEPTION 'disk on fire' USING ERRCODE = 'restrict_violation'; END $$",
                   "CREATE TRIGGER test_audit_down BEFORE INSERT ON audit_event FOR EACH ROW "
                   "EXECUTE FUNCTION test_audit_down()"],
}


def test_a_failing_audit_write_rolls_back_the_state_change(engine: Engine, clock: FakeClock) -> None:
    """With inserts into audit_event failing in the database, record() raises AuditWriteError and the
    key row written earlier in the same transaction is not committed (fail closed)."""
    with engine.begin() as conn:
        for statement in AUDIT_DOWN[engine.dialect.name]:
            conn.exec_driver_sql(statement)
    log = AuditLog(new_master(), clock)
    with pytest.raises(AuditWriteError, match="disk on fire") as caught, session_scope(engine) as s:
        s.add(KeyRecord(api_key="k1", sub_account="sub-a", created_at=START))
        s.flush()
        log.record(s, "key.created", actor="kukey", api_key="k1")
    assert isinstance(caught.value.__cause__, IntegrityError)
    with session_scope(engine) as s:
        assert s.exec(select(KeyRecord)).all() == []


def test_a_caller_that_swallows_the_error_still_cannot_commit(engine: Engine, clock: FakeClock) -> None:
    """record() rolls the session back itself, so catching AuditWriteError and carrying on commits nothing."""
    log = AuditLog(new_master(), clock)
    with session_scope(engine) as s:
        s.add(KeyRecord(api_key="k1", sub_account="sub-a", created_at=START))
        s.flush()
        with pytest.raises(AuditWriteError):
            log.record(s, "key.created", actor="kukey", detail={"password": "x"})
    with session_scope(engine) as s:
        assert s.exec(select(KeyRecord)).all() == []


def _rekeyed_log(engine: Engine, clock: FakeClock) -> None:
    """Two events, then a rekey: the log has events and a retired audit key."""
    master = new_master()
    fill(engine, AuditLog(master, clock), clock, 2)
    with session_scope(engine) as s:
        rekey_audit(s, old_master=master, new_master=new_master(), clock=clock)


def _refused(url: str, engine: Engine, statement: str) -> None:
    """`statement` fails with the guard's message on a plain connection and on a kukey session."""
    raw = connect(url)
    try:
        with pytest.raises((sqlite3.IntegrityError, psycopg.errors.RestrictViolation),
                           match=r"append-only|rows are kept"):
            raw.execute(statement)
    finally:
        raw.close()
    with pytest.raises(IntegrityError, match=r"append-only|rows are kept"), session_scope(engine) as s:
        s.execute(text(statement))


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET actor = 'U9' WHERE seq = 1",
    "DELETE FROM audit_event WHERE seq = 1",
    "DELETE FROM audit_event",
    "DELETE FROM audit_key",
])
def test_triggers_refuse_update_and_delete(engine: Engine, clock: FakeClock, database_url: str,
                                           statement: str) -> None:
    """The database itself refuses to change or remove an audit event or a retired audit key, whoever asks
    (on PostgreSQL the superuser too)."""
    _rekeyed_log(engine, clock)
    _refused(database_url, engine, statement)


@pytest.mark.parametrize("table", ["audit_event", "audit_key"])
def test_truncate_is_refused_on_postgresql(pg_url: str, clock: FakeClock, table: str) -> None:
    """PostgreSQL's TRUNCATE (which skips row triggers) is refused on both audit tables by a statement trigger."""
    engine = open_engine(pg_url)
    try:
        _rekeyed_log(engine, clock)
        _refused(pg_url, engine, f"TRUNCATE {table}")
    finally:
        engine.dispose()


def test_checkpoints_format_and_parse() -> None:
    """A checkpoint is N:HASH; parse_checkpoint reads it back and refuses anything else with UsageError."""
    digest = "ab" * 32
    assert audit_verify.parse_checkpoint(audit_verify.format_checkpoint(12, digest)) == (12, digest)
    for bad in ["12", "x:" + digest, "0:" + digest, "12:" + digest[:-1], "12:" + digest.upper(), ""]:
        with pytest.raises(UsageError, match="not a checkpoint"):
            audit_verify.parse_checkpoint(bad)


def test_events_and_logs_show_no_audit_key(clock: FakeClock) -> None:
    """The AuditLog repr names the key id only."""
    master = new_master()
    assert repr(AuditLog(master, clock)) == f"AuditLog(key_id={key_id(master)})"


def test_later_events_of_a_transaction_do_not_read_the_head_again(engine: Engine, clock: FakeClock) -> None:
    """The first event of a transaction takes the lock, checks the key and reads the head; the later ones
    of the same transaction only insert (nobody else can append meanwhile), and the chain verifies."""
    master = new_master()
    log = AuditLog(master, clock)
    sent: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with session_scope(engine) as s:
            for n in range(3):
                log.record(s, "request.created", actor="U1", request_id=f"KK-{n}")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len([q for q in sent if q.startswith("SELECT seq, hash FROM audit_event")]) == 1
    assert len([q for q in sent if q.startswith("SELECT 1 FROM audit_key")]) == 1
    assert len([q for q in sent if q.startswith("INSERT INTO audit_event")]) == 3
    with session_scope(engine) as s:
        assert [e.seq for e in audit_read.events(s)] == [1, 2, 3]
    assert audit_verify.verify(engine, master_key=master).ok


@pytest.mark.parametrize("keep", [False, True])
def test_an_event_in_a_savepoint_leaves_the_chain_whole(engine: Engine, clock: FakeClock, keep: bool) -> None:
    """An event appended inside a savepoint that rolls back (or is kept) is never the head a later event
    of the same transaction assumes wrongly: the next event links to the last event that exists."""
    master = new_master()
    log = AuditLog(master, clock)
    with session_scope(engine) as s:
        log.record(s, "request.created", actor="U1", request_id="KK-1")
        nested = s.begin_nested()
        log.record(s, "request.approval", actor="U2", request_id="KK-1")
        nested.commit() if keep else nested.rollback()
        log.record(s, "request.approved", actor="kukey", request_id="KK-1")
    with session_scope(engine) as s:
        actions = [e.action for e in audit_read.events(s)]
    assert actions == (["request.created", "request.approval", "request.approved"] if keep
                       else ["request.created", "request.approved"])
    assert audit_verify.verify(engine, master_key=master).ok
