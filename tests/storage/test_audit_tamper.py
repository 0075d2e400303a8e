"""verify(): an untouched chain verifies; each kind of tampering fails and names the right event; on SQLite
and on PostgreSQL (whose verify streams one server-side cursor instead of splitting the walk)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.domain.clock import FakeClock
from bot.storage import audit, audit_verify
from bot.storage.audit import AuditLog
from bot.storage.audit_verify import verify
from bot.storage.db import session_scope
from tests.storage.audit_helpers import Attacker, attacker, db_url, fill, insert, new_master, open_engine, row

MASTER = new_master()
COUNT = 60


def _filled(url: str) -> Engine:
    engine = open_engine(url)
    fill(engine, AuditLog(MASTER, FakeClock()), FakeClock(), COUNT)
    return engine


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A log of COUNT events, on SQLite and on PostgreSQL."""
    engine = _filled(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A log of COUNT events in a SQLite file (where verify can split the walk across processes)."""
    engine = _filled(db_url(tmp_path))
    yield engine
    engine.dispose()


@pytest.fixture
def evil(engine: Engine) -> Iterator[Attacker]:
    conn = attacker(engine)
    yield conn
    conn.close()


def _head(engine: Engine) -> tuple[int, str]:
    with session_scope(engine) as s:
        return audit.head(s)


def test_an_untouched_chain_verifies(engine: Engine) -> None:
    """All events verify, and the result carries the head as a checkpoint."""
    result = verify(engine, master_key=MASTER, checkpoint=_head(engine))
    assert (result.ok, result.count, result.first_bad_seq, result.problem) == (True, COUNT, None, "")
    assert result.checkpoint == audit_verify.format_checkpoint(*_head(engine))


def test_an_empty_log_verifies(database_url: str) -> None:
    """A fresh database has nothing to verify and says so without error."""
    engine = open_engine(database_url)
    try:
        assert verify(engine, master_key=MASTER) == audit_verify.VerifyResult(True, 0, None, "", "0" * 64)
    finally:
        engine.dispose()


def test_an_edited_event_is_named(engine: Engine, evil: Attacker) -> None:
    """Changing one field of event 25 breaks its hash; verify names event 25 and trusts 1-24."""
    evil.execute("""UPDATE audit_event SET detail = '{"n":999}' WHERE seq = 25""")
    result = verify(engine, master_key=MASTER)
    assert (result.ok, result.first_bad_seq, result.count) == (False, 25, 24)
    assert "event 25 does not match its hash: edited" in result.problem


def test_a_deleted_event_is_named(engine: Engine, evil: Attacker) -> None:
    """Removing event 30 leaves a gap; verify names event 30 as missing."""
    evil.execute("DELETE FROM audit_event WHERE seq = 30")
    result = verify(engine, master_key=MASTER)
    assert (result.ok, result.first_bad_seq) == (False, 30)
    assert "event 30 is missing" in result.problem


def test_swapped_events_are_named(engine: Engine, evil: Attacker) -> None:
    """Exchanging events 40 and 41 (their seq numbers) breaks the link at event 40."""
    evil.execute("UPDATE audit_event SET seq = -1 WHERE seq = 40")
    evil.execute("UPDATE audit_event SET seq = 40 WHERE seq = 41")
    evil.execute("UPDATE audit_event SET seq = 41 WHERE seq = -1")
    result = verify(engine, master_key=MASTER)
    assert (result.ok, result.first_bad_seq) == (False, 40)
    assert "event 40 does not link to event 39" in result.problem


def test_a_forged_event_inserted_in_the_middle_is_named(engine: Engine, evil: Attacker) -> None:
    """Shifting events 20.. up and inserting a forged, linked event 20 (no key) is caught at event 20."""
    for seq in range(COUNT, 19, -1):
        evil.execute("UPDATE audit_event SET seq = seq + 1 WHERE seq = ?", (seq,))
    original = row(evil, 21)
    forged = (20, original[1], "U666", "key.revealed", *original[4:10], row(evil, 19)[11], "f" * 64)
    insert(evil, forged)
    result = verify(engine, master_key=MASTER)
    assert (result.ok, result.first_bad_seq) == (False, 20)
    assert "event 20 does not match its hash" in result.problem


def test_a_forged_event_appended_at_the_end_is_named(engine: Engine, evil: Attacker) -> None:
    """A forged event 61 that links to the real head still fails: its hash needs the audit key."""
    last = row(evil, COUNT)
    forged = (COUNT + 1, *last[1:10], last[11], "e" * 64)
    insert(evil, forged)
    result = verify(engine, master_key=MASTER)
    assert (result.ok, result.first_bad_seq) == (False, COUNT + 1)


def test_an_event_inserted_below_the_first_is_named(engine: Engine, evil: Attacker) -> None:
    """Even an event slipped in before event 1 (seq 0) is reported."""
    insert(evil, (0, *row(evil, 1)[1:]))
    result = verify(engine, master_key=MASTER)
    assert (result.ok, result.first_bad_seq) == (False, 0)
    assert "out of order" in result.problem


def test_a_cut_tail_is_caught_by_a_checkpoint(engine: Engine, evil: Attacker) -> None:
    """Deleting the last 5 events leaves a valid chain, but a checkpoint at 60 names event 56 as missing."""
    checkpoint = _head(engine)
    evil.execute("DELETE FROM audit_event WHERE seq > ?", (COUNT - 5,))
    assert verify(engine, master_key=MASTER).ok
    result = verify(engine, master_key=MASTER, checkpoint=checkpoint)
    assert (result.ok, result.first_bad_seq, result.count) == (False, COUNT - 4, COUNT - 5)
    assert "the tail was cut" in result.problem


def test_a_rewritten_log_is_caught_by_a_checkpoint(engine: Engine, evil: Attacker) -> None:
    """An insider with the key rewrites the log from event 50 on: the chain is valid, a checkpoint is not."""
    checkpoint = _head(engine)
    evil.execute("DELETE FROM audit_event WHERE seq >= 50")
    clock = FakeClock()
    with session_scope(engine) as s:
        for _ in range(COUNT - 49):
            AuditLog(MASTER, clock).record(s, "nothing.to.see", actor="U1")
    assert verify(engine, master_key=MASTER).ok
    result = verify(engine, master_key=MASTER, checkpoint=checkpoint)
    assert (result.ok, result.first_bad_seq) == (False, COUNT)
    assert "differs from the checkpoint" in result.problem


def test_the_wrong_master_key_fails_at_the_first_event(engine: Engine) -> None:
    """Verifying with another master key names event 1 and says the key cannot verify it."""
    result = verify(engine, master_key=new_master())
    assert (result.ok, result.first_bad_seq, result.count) == (False, 1, 0)
    assert "cannot verify" in result.problem


def test_verify_inside_a_session_sees_that_transaction(engine: Engine) -> None:
    """Given a session, verify reads in its transaction, including events it has not committed yet."""
    with session_scope(engine) as s:
        AuditLog(MASTER, FakeClock()).record(s, "pending.event", actor="U1")
        assert verify(s, master_key=MASTER).count == COUNT + 1


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_verify_agrees_on_a_clean_chain(sqlite_engine: Engine, workers: int) -> None:
    """Worker processes verifying seq ranges give the same result as one walk."""
    engine = sqlite_engine
    assert verify(engine, master_key=MASTER, workers=workers) == verify(engine, master_key=MASTER, workers=1)


@pytest.mark.parametrize("tamper", [
    "UPDATE audit_event SET seq = -1 WHERE seq = 30; UPDATE audit_event SET seq = 30 WHERE seq = 31; "
    "UPDATE audit_event SET seq = 31 WHERE seq = -1",  # swap across the boundary of two ranges
    "DELETE FROM audit_event WHERE seq = 31",  # the first event of the second range
    "DELETE FROM audit_event WHERE seq BETWEEN 28 AND 30",  # the last events of the first range
    "DELETE FROM audit_event WHERE seq BETWEEN 21 AND 40",  # the whole middle range of three
    "UPDATE audit_event SET actor = 'U0' WHERE seq = 45",
])
def test_parallel_verify_names_the_same_event(sqlite_engine: Engine, tamper: str) -> None:
    """Tampering at or near the boundary between worker ranges is named exactly as by a single walk."""
    engine, evil = sqlite_engine, attacker(sqlite_engine)
    evil.executescript(tamper)
    evil.close()
    single = verify(engine, master_key=MASTER, workers=1)
    assert not single.ok
    assert verify(engine, master_key=MASTER, workers=2) == single
    assert verify(engine, master_key=MASTER, workers=3) == single
