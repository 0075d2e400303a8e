"""The storage statements built once and cached per shape (issue 16.2) give each shape its own statement, on
SQLite and on PostgreSQL: a transition writes exactly the columns it was given, claim_heads' skip and limit
are parameters of the call, and schedule's and hold's upserts stay apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import select

from bot.domain.jobs import JobKind, JobState
from bot.domain.keys import KeyState
from bot.domain.requests import Kind, State
from bot.storage import outbox, repos
from bot.storage.db import session_scope
from bot.storage.outbox import NewItem
from bot.storage.tables import Job, KeyRecord, Request

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def test_transitions_of_different_shapes_each_write_exactly_their_own_columns(engine: Engine) -> None:
    """Moves giving different columns (and one or two source states) write those columns and no others."""
    with session_scope(engine) as s:
        for rid in ("KK-A", "KK-B"):
            s.add(Request(id=rid, kind=Kind.CREATE.value, state=State.PENDING.value, requester="U1",
                          sub_account="sub", created_at=NOW, expires_at=LATER))
        s.add(KeyRecord(api_key="k-a", sub_account="sub", created_at=NOW, state=KeyState.ACTIVE.value))
        s.add(KeyRecord(api_key="k-b", sub_account="sub", created_at=NOW, state=KeyState.ACTIVE.value))
    with session_scope(engine) as s:
        assert repos.transition(s, request_id="KK-A", src=State.PENDING, dst=State.APPROVED, approved_at=NOW,
                                reveal_deadline=LATER)
        assert repos.transition(s, request_id="KK-B", src=(State.PENDING, State.APPROVED), dst=State.CANCELLED,
                                resolved_at=LATER, resolved_by="U2", resolution_note="no")
        assert repos.transition(s, request_id="KK-A", src=State.APPROVED, dst=State.REVEALING,
                                pending_passphrase_enc=b"sealed")
        assert repos.key_transition(s, api_key="k-a", src=(KeyState.ACTIVE,), dst=KeyState.DELETE_PENDING,
                                    delete_after=LATER)
        assert repos.key_transition(s, api_key="k-b", src=(KeyState.ACTIVE, KeyState.DELETE_PENDING),
                                    dst=KeyState.DELETED, deleted_at=NOW)
    with session_scope(engine) as s:
        a, b = (repos.get_request(s, request_id=rid) for rid in ("KK-A", "KK-B"))
        assert a is not None and b is not None
        assert (a.state, a.version, a.approved_at, a.reveal_deadline, a.pending_passphrase_enc, a.resolved_at,
                a.resolved_by, a.resolution_note) == ("revealing", 2, NOW, LATER, b"sealed", None, None, "")
        assert (b.state, b.version, b.approved_at, b.reveal_deadline, b.pending_passphrase_enc, b.resolved_at,
                b.resolved_by, b.resolution_note) == ("cancelled", 1, None, None, None, LATER, "U2", "no")
        ka, kb = (repos.get_key(s, api_key=k) for k in ("k-a", "k-b"))
        assert ka is not None and kb is not None
        assert (ka.state, ka.delete_after, ka.deleted_at) == ("delete_pending", LATER, None)
        assert (kb.state, kb.delete_after, kb.deleted_at) == ("deleted", None, NOW)


def test_claim_heads_takes_skip_and_limit_from_each_call(engine: Engine) -> None:
    """A claim passing over one item with a limit of one, then one without skip and a larger limit, each
    claim what they asked for."""
    with session_scope(engine) as s:
        outbox.add(s, items=[NewItem(stream, "post", {"text": stream}) for stream in ("KK-A", "KK-B", "KK-C")],
                   now=NOW, give_up_at=LATER)
        ids = {row.stream: int(row.id or 0) for row in outbox.items(s)}
    with session_scope(engine) as s:
        first = outbox.claim_heads(s, now=NOW, lease_until=LATER, limit=1, skip=[ids["KK-A"]])
    with session_scope(engine) as s:
        rest = outbox.claim_heads(s, now=NOW, lease_until=LATER, limit=5)
    assert [c.stream for c in first] == ["KK-B"]
    assert [c.stream for c in rest] == ["KK-A", "KK-C"]


def test_schedule_and_hold_keep_their_own_upserts(engine: Engine) -> None:
    """hold counts a claim on the job schedule made (and makes a new one with attempt 1); schedule afterwards
    makes the job pending again at its new time, releasing the lease but keeping the count."""
    with session_scope(engine) as s:
        repos.schedule(s, kind=JobKind.RECOVER_REVEAL, ref="KK-A", run_at=LATER)
        held = repos.hold(s, kind=JobKind.RECOVER_REVEAL, ref="KK-A", now=NOW, lease_until=LATER)
        fresh = repos.hold(s, kind=JobKind.RECOVER_REVEAL, ref="KK-B", now=NOW, lease_until=LATER)
        again = repos.hold(s, kind=JobKind.RECOVER_REVEAL, ref="KK-A", now=NOW, lease_until=LATER)
    assert (held.attempt, fresh.attempt, again.attempt) == (1, 1, 2)
    assert held.job_id == again.job_id != fresh.job_id
    with session_scope(engine) as s:
        repos.schedule(s, kind=JobKind.RECOVER_REVEAL, ref="KK-A", run_at=NOW + timedelta(days=1))
    with session_scope(engine) as s:
        jobs = {j.ref: (j.state, j.attempts, j.run_at, j.lease_until) for j in s.exec(select(Job))}
    assert jobs == {"KK-A": (JobState.PENDING.value, 2, NOW + timedelta(days=1), None),
                    "KK-B": (JobState.RUNNING.value, 1, NOW, LATER)}
