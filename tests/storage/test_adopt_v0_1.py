"""A database made by kukey 0.1's released code (create_all, no revision; see fixtures/make_v0_1_database.py)
is refused until `kukey db upgrade` adopts it: every row is still there, the audit chain verifies with the
master key it was last written with, and the bot starts on it and keeps appending to the same chain."""

from __future__ import annotations

import base64
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.domain.clock import FakeClock
from bot.errors import SchemaError
from bot.storage import schema
from bot.storage.audit_verify import verify
from bot.storage.db import init_db, make_engine
from kukey_sandbox.world import KukeyWorld
from tests.databases import rows

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Two test-only master keys: the database was written with the first, then `kukey rekey` moved it to the second.
_, MASTER_KEY = (FIXTURES / "v0_1.master-key").read_text(encoding="ascii").split()
TABLES = ("request", "approval", "enrollment", "totp_use", "api_key", "job", "audit_event", "audit_key")
EVENTS = 30
NOT_MIGRATED = ("the database was made by kukey 0.2 or earlier and has no schema revision; kukey needs "
                "revision 0008: run `kukey db upgrade`")


def everything(url: str) -> dict[str, list[tuple[object, ...]]]:
    return {table: rows(url, f"SELECT * FROM {table} ORDER BY 1") for table in TABLES}  # noqa: S608 - fixed names


@pytest.fixture
def copy(tmp_path: Path) -> str:
    """A copy of the 0.1 database, as a sqlite:/// URL."""
    path = tmp_path / "kukey.db"
    shutil.copyfile(FIXTURES / "v0_1.db", path)
    return f"sqlite:///{path}"


def test_the_fixture_holds_a_whole_story(copy: str) -> None:
    """The 0.1 database has rows in every table (requests, approvals, enrollments, TOTP uses, keys, jobs,
    audit events, a retired audit key), an empty `seen` table and no revision."""
    counts = {table: len(found) for table, found in everything(copy).items()}
    assert counts == {"request": 3, "approval": 2, "enrollment": 4, "totp_use": 8, "api_key": 2, "job": 10,
                      "audit_event": EVENTS, "audit_key": 1}
    names = {r[0] for r in rows(copy, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "seen" in names and "alembic_version" not in names


def test_a_0_1_database_is_refused_then_adopted_without_losing_a_row(
        copy: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Start and schema_problem refuse the 0.1 database with the line saying to run `kukey db upgrade`;
    after it, every row of every table is unchanged, `seen` is gone, and `kukey audit verify` passes."""
    before = everything(copy)
    engine = make_engine(copy)
    try:
        assert schema.schema_problem(engine) == NOT_MIGRATED
        with pytest.raises(SchemaError, match="run `kukey db upgrade`"):
            init_db(engine)
    finally:
        engine.dispose()
    monkeypatch.setenv("KUKEY_DATABASE_URL", copy)
    monkeypatch.setenv("KUKEY_MASTER_KEY", MASTER_KEY)
    assert main(["db", "upgrade"]) == 0
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(" adopted (made by kukey 0.2 or earlier) and upgraded to revision 0008")
    assert out[1].startswith(f"OK: {EVENTS} events verified")
    assert everything(copy) == before
    tables = {r[0] for r in rows(copy, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {*TABLES, "alembic_version", "audit_forward", "outbox", "key_reminder", "kill_switch_key",
                      "notice"}


def test_the_bot_starts_on_the_adopted_database_and_continues_the_chain(copy: str, tmp_path: Path) -> None:
    """The bot starts on the upgraded 0.1 database with its master key (at the time the story was played,
    so its jobs are not yet due), records its start and stop on the same chain, and the chain verifies."""
    engine = make_engine(copy)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()
    last = datetime.fromisoformat(rows(copy, "SELECT max(ts) FROM audit_event")[0][0])
    world = KukeyWorld(home=tmp_path, run_bot=False, database_url=copy,
                       clock=FakeClock(last + timedelta(seconds=1)))
    try:
        world.master_key = MASTER_KEY
        world.start_bot()
        world.stop_bot()
    finally:
        world.stop()
    actions = [r[0] for r in rows(copy, "SELECT action FROM audit_event WHERE seq > ? ORDER BY seq", (EVENTS,))]
    assert actions == ["kukey.started", "policy.loaded", "kukey.stopped"]
    assert rows(copy, "SELECT count(*) FROM job WHERE state = 'pending'") == [(6,)]
    engine = make_engine(copy)
    try:
        result = verify(engine, master_key=base64.b64decode(MASTER_KEY))
    finally:
        engine.dispose()
    assert (result.ok, result.count) == (True, EVENTS + 3), result.problem
