"""Notices (bot.storage.notices) on SQLite and PostgreSQL: each (request, kind, number) is recorded once,
however many transactions try, and the approvers recorded first are the ones read back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from bot.domain.notify import NoticeKind
from bot.storage import notices
from bot.storage.db import session_scope
from bot.storage.tables import Request

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def a_request(engine: Engine, rid: str = "KK-NOTICE01") -> str:
    with session_scope(engine) as s:
        s.add(Request(id=rid, kind="create", state="pending", requester="U0ALICE01", sub_account="alpha",
                      created_at=NOW, expires_at=NOW + timedelta(minutes=30)))
    return rid


def test_a_notice_is_recorded_once_and_read_back(engine: Engine) -> None:
    """The first add of a reminder number wins; a second add of it changes nothing; counts and users follow."""
    rid = a_request(engine)
    with session_scope(engine) as s:
        assert notices.add(s, request_id=rid, kind=NoticeKind.APPROVERS, users=["U0BOB0001", "U0CAROL01"], at=NOW)
        assert notices.add(s, request_id=rid, kind=NoticeKind.REMINDER, seq=0, users=["U0BOB0001"], at=NOW)
    with session_scope(engine) as s:
        assert not notices.add(s, request_id=rid, kind=NoticeKind.REMINDER, seq=0, users=[], at=NOW)
        assert notices.count(s, request_id=rid, kind=NoticeKind.REMINDER) == 1
        assert notices.users(s, request_id=rid, kind=NoticeKind.APPROVERS) == ["U0BOB0001", "U0CAROL01"]
        assert notices.users(s, request_id=rid, kind=NoticeKind.ESCALATION) == []


def test_racing_transactions_record_one_escalation(engine: Engine) -> None:
    """Eight threads adding the same escalation at once: exactly one of them records it."""
    rid = a_request(engine)
    won: list[bool] = []
    start = threading.Barrier(8)

    def escalate() -> None:
        start.wait()
        with session_scope(engine) as s:
            won.append(notices.add(s, request_id=rid, kind=NoticeKind.ESCALATION, users=["U0FRANK01"], at=NOW))

    threads = [threading.Thread(target=escalate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(won) == [False] * 7 + [True]
