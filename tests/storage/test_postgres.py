"""What PostgreSQL adds: compare-and-set and unique constraints under READ COMMITTED, even without kukey's
write lock; job claims that skip rows another transaction holds; starts that queue on the lock to
migrate; and the runtime role of docs/postgresql.md, which runs kukey but cannot touch the audit log."""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine
from sqlmodel import select

from bot.cli import main
from bot.domain.actions import AuditAction
from bot.domain.clock import FakeClock
from bot.domain.jobs import JobKind
from bot.domain.requests import Kind, State
from bot.storage import repos, schema, urls
from bot.storage.audit import AuditLog
from bot.storage.db import init_db, make_engine, session_scope
from bot.storage.tables import Enrollment, Request
from tests.databases import connect, rows
from tests.postgres import PostgresServer
from tests.storage.audit_helpers import new_master
from tests.storage.test_schema import migrate_to

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DOC = Path(__file__).resolve().parents[2] / "docs" / "postgresql.md"
WAIT_S = 20


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` (a query) until it holds; fail naming `what` after WAIT_S seconds."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def lock_waiters(url: str, locktype: str) -> int:
    """How many backends wait for a lock of `locktype` ("transactionid": a row; "advisory")."""
    return int(rows(url, "SELECT count(*) FROM pg_locks WHERE locktype = ? AND NOT granted", (locktype,))[0][0])


@pytest.fixture
def plain(pg_url: str) -> Iterator[Engine]:
    """A plain SQLAlchemy engine (READ COMMITTED, no kukey write lock) on a database with kukey's schema."""
    kukey = make_engine(pg_url)
    init_db(kukey)
    kukey.dispose()
    engine = create_engine(urls.normalized(pg_url))
    yield engine
    engine.dispose()


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(work()))
    thread.start()
    return thread, out


def test_compare_and_set_holds_under_read_committed_alone(plain: Engine, pg_url: str) -> None:
    """Without the write lock: a second transition of the same request waits for the first one's row lock,
    then re-checks `state = pending` on the committed row, matches nothing and returns False."""
    with session_scope(plain) as s:
        s.add(Request(id="KK-RACE", kind=Kind.CREATE.value, state=State.PENDING.value, requester="U1",
                      sub_account="sub", created_at=NOW, expires_at=NOW))
    with session_scope(plain) as first:
        assert repos.transition(first, request_id="KK-RACE", src=State.PENDING, dst=State.APPROVED)

        def second() -> bool:
            with session_scope(plain) as s:
                return repos.transition(s, request_id="KK-RACE", src=State.PENDING, dst=State.DENIED)

        thread, result = _in_thread(second)
        wait_until(lambda: lock_waiters(pg_url, "transactionid") == 1, "the second UPDATE to wait")
    thread.join(timeout=WAIT_S)
    assert result == [False]
    assert rows(pg_url, "SELECT state, version FROM request") == [("approved", 1)]


def test_a_unique_constraint_holds_under_read_committed_alone(plain: Engine, pg_url: str) -> None:
    """Without the write lock: the same approver's second approval waits for the first, then hits the
    unique constraint and add_approval returns False: one approval row."""
    with session_scope(plain) as s:
        s.add(Request(id="KK-TWICE", kind=Kind.CREATE.value, state=State.PENDING.value, requester="U1",
                      sub_account="sub", created_at=NOW, expires_at=NOW))
    with session_scope(plain) as first:
        assert repos.add_approval(first, request_id="KK-TWICE", approver="U2", step=1, at=NOW)

        def second() -> bool:
            with session_scope(plain) as s:
                return repos.add_approval(s, request_id="KK-TWICE", approver="U2", step=2, at=NOW)

        thread, result = _in_thread(second)
        wait_until(lambda: lock_waiters(pg_url, "transactionid") == 1, "the second INSERT to wait")
    thread.join(timeout=WAIT_S)
    assert result == [False]
    assert rows(pg_url, "SELECT approver, totp_step FROM approval") == [("U2", 1)]


def test_job_claims_skip_a_row_another_transaction_holds(pg_url: str) -> None:
    """claim_due and claim_one pass over a job row locked elsewhere (FOR UPDATE SKIP LOCKED) at once,
    instead of waiting for it (which would end in a lock timeout)."""
    engine = make_engine(pg_url, busy_timeout_s=2)
    init_db(engine)
    try:
        with session_scope(engine) as s:
            for ref in ("a", "b", "c"):
                repos.schedule(s, kind=JobKind.EXPIRE_REQUEST, ref=ref, run_at=NOW)
        holder = connect(pg_url)
        try:
            holder.autocommit = False
            holder.execute("SELECT id FROM job WHERE ref = 'b' FOR UPDATE")
            with session_scope(engine) as s:
                claimed = repos.claim_due(s, now=NOW, lease_until=NOW + timedelta(minutes=2))
                assert sorted(j.ref for j in claimed) == ["a", "c"]
                assert repos.claim_one(s, kind=JobKind.EXPIRE_REQUEST, ref="b", now=NOW,
                                       lease_until=NOW + timedelta(minutes=2)) is None
        finally:
            holder.rollback()
            holder.close()
        with session_scope(engine) as s:
            assert [j.ref for j in repos.claim_due(s, now=NOW, lease_until=NOW + timedelta(minutes=2))] == ["b"]
    finally:
        engine.dispose()


def test_replicas_starting_together_queue_on_the_lock_and_upgrade_once(pg_url: str) -> None:
    """While one kukey transaction holds the write lock, four replicas starting with KUKEY_AUTO_MIGRATE=1
    on a database at 0001 all find it behind and queue on the advisory lock; once it is free, one upgrades
    and the others, looking again under the lock, find the head and start."""
    holder_engine = make_engine(pg_url)
    migrate_to(holder_engine, "0001")
    engines = [make_engine(pg_url) for _ in range(4)]
    errors: list[Exception] = []

    def start(engine: Engine) -> None:
        try:
            init_db(engine, auto_migrate=True)
        except Exception as exc:  # collected and shown by the assertion below
            errors.append(exc)

    try:
        with holder_engine.begin():
            threads = [threading.Thread(target=start, args=(e,)) for e in engines]
            for thread in threads:
                thread.start()
            wait_until(lambda: lock_waiters(pg_url, "advisory") == len(engines), "every start to queue")
        for thread in threads:
            thread.join(timeout=WAIT_S)
        assert errors == []
        assert schema.current(holder_engine).at_head
        assert rows(pg_url, "SELECT version_num FROM alembic_version") == [("0008",)]
    finally:
        for engine in [holder_engine, *engines]:
            engine.dispose()


# --- the runtime role of docs/postgresql.md -----------------------------------------------------------

def grant_block() -> str:
    """The GRANT block docs/postgresql.md tells the owner to run (the one about the runtime role)."""
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    (block,) = [b for b in blocks if b.startswith("-- kukey runtime role")]
    return block


@pytest.fixture
def roles(postgres: PostgresServer) -> dict[str, str]:
    """The doc's owner and runtime roles and its database (fresh names): their URLs, with passwords."""
    tag = uuid.uuid4().hex[:8]
    owner, app, database = f"kukey_owner_{tag}", f"kukey_app_{tag}", f"kukey_{tag}"
    postgres.execute(f"CREATE ROLE {owner} LOGIN PASSWORD 'owner-pw'")
    postgres.execute(f"CREATE ROLE {app} LOGIN PASSWORD 'app-pw'")
    postgres.execute(f"CREATE DATABASE {database} OWNER {owner}")
    return {"owner": postgres.url(database, user=owner, password="owner-pw"),
            "app": postgres.url(database, user=app, password="app-pw"),
            "sql": grant_block().replace("kukey_owner", owner).replace("kukey_app", app)
                                .replace("DATABASE kukey ", f"DATABASE {database} ")}


def _kukey(argv: list[str], url: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> int:
    """`kukey <argv>` in this process, against the database `url` (and more settings)."""
    for name, value in {"KUKEY_DATABASE_URL": url, **env}.items():
        monkeypatch.setenv(name, value)
    return main(argv)


def test_the_runtime_role_runs_kukey_but_cannot_touch_the_audit_log(
        roles: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """After the owner's `kukey db upgrade` and the doc's GRANTs, kukey runs as the runtime role (requests,
    audit events, a TOTP reset, `kukey rekey`, `kukey audit verify`), while the role is denied UPDATE,
    DELETE and TRUNCATE on the audit log, dropping or disabling its triggers, and changing the revision."""
    master, new = new_master(), new_master()
    app_empty = _kukey(["db", "upgrade"], roles["app"], monkeypatch)
    assert app_empty == 2 and "permission denied for schema public" in capsys.readouterr().err
    assert _kukey(["db", "upgrade"], roles["owner"], monkeypatch) == 0
    owner = connect(roles["owner"])
    try:
        owner.execute(roles["sql"])
    finally:
        owner.close()
    _work_as(roles["app"], master)
    old_key, new_key = base64.b64encode(master).decode(), base64.b64encode(new).decode()
    assert _kukey(["rekey", "--new-key-env", "NEW_KEY"], roles["app"], monkeypatch, KUKEY_MASTER_KEY=old_key,
                  NEW_KEY=new_key) == 0
    assert _kukey(["audit", "verify"], roles["app"], monkeypatch, KUKEY_MASTER_KEY=new_key) == 0
    assert "OK: 4 events verified" in capsys.readouterr().out
    app = connect(roles["app"])
    try:
        for statement in ("UPDATE audit_event SET actor = 'U9'", "DELETE FROM audit_event", "TRUNCATE audit_event",
                          "DELETE FROM audit_key", "TRUNCATE audit_key",
                          "DROP TRIGGER audit_event_no_update ON audit_event",
                          "ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_delete",
                          "UPDATE alembic_version SET version_num = '0001'"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
    finally:
        app.close()


def _work_as(url: str, master: bytes) -> None:
    """What kukey does as the runtime role: start (schema check), add a request and an enrollment with
    audit events, move the request, remove the enrollment."""
    engine = make_engine(url)
    try:
        init_db(engine)
        log = AuditLog(master, FakeClock(NOW))
        with session_scope(engine) as s:
            s.add(Request(id="KK-APP", kind=Kind.CREATE.value, state=State.PENDING.value, requester="U1",
                          sub_account="sub", created_at=NOW, expires_at=NOW))
            s.add(Enrollment(user_id="U1", seed_enc=b"x", created_at=NOW))
            repos.schedule(s, kind=JobKind.EXPIRE_REQUEST, ref="KK-APP", run_at=NOW)
            log.record(s, AuditAction.REQUEST_CREATED, actor="U1", request_id="KK-APP")
        with session_scope(engine) as s:
            assert repos.transition(s, request_id="KK-APP", src=State.PENDING, dst=State.CANCELLED)
            s.delete(s.exec(select(Enrollment)).one())
            log.record(s, AuditAction.REQUEST_CANCELLED, actor="U1", request_id="KK-APP")
            log.record(s, AuditAction.TOTP_RESET, actor="cli", detail={"user": "U1"})
    finally:
        engine.dispose()
