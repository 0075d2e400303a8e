"""`kukey db upgrade|current`, and `kukey run` on a database whose schema is behind: one line saying what
to run, or an upgrade with KUKEY_AUTO_MIGRATE=1; on SQLite and on PostgreSQL, the password never shown."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.domain.actions import AuditAction
from bot.domain.clock import FakeClock
from bot.preflight import Status, run_preflight
from bot.security.crypto import generate_master_key
from bot.storage.audit import AuditLog
from bot.storage.db import init_db, make_engine, session_scope
from kukey_sandbox.world import KukeyWorld
from tests.databases import rows
from tests.postgres import SUPERUSER, PostgresServer
from tests.storage.test_schema import migrate_to

HEAD = "0008"
BEHIND = f"the database schema is at revision 0001, kukey needs {HEAD}: run `kukey db upgrade`"
PASSWORD = "hunter2-not-shown"


def kukey(monkeypatch: pytest.MonkeyPatch, url: str, *argv: str) -> int:
    monkeypatch.setenv("KUKEY_DATABASE_URL", url)
    return main(list(argv))


def test_upgrade_creates_the_schema_then_current_says_up_to_date(
        database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`db upgrade` creates a new database at the head, `db current` then exits 0 naming it, and a second
    `db upgrade` changes nothing."""
    assert kukey(monkeypatch, database_url, "db", "upgrade") == 0
    assert capsys.readouterr().out.endswith(f" created at revision {HEAD}\n")
    assert kukey(monkeypatch, database_url, "db", "current") == 0
    assert capsys.readouterr().out.endswith(f": revision {HEAD} (head {HEAD}); up to date\n")
    assert kukey(monkeypatch, database_url, "db", "upgrade") == 0
    assert capsys.readouterr().out.endswith(f" is already at revision {HEAD}\n")
    assert rows(database_url, "SELECT version_num FROM alembic_version") == [(HEAD,)]


def test_current_exits_1_behind_and_upgrade_moves_to_the_head(
        database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """At revision 0001, `db current` exits 1 with the line saying to run `kukey db upgrade`; after
    `db upgrade` (which says from where to where) it exits 0."""
    engine = make_engine(database_url)
    migrate_to(engine, "0001")
    engine.dispose()
    assert kukey(monkeypatch, database_url, "db", "current") == 1
    assert capsys.readouterr().out.endswith(
        f"revision 0001 (head {HEAD}); the database schema is at revision 0001, kukey needs {HEAD}: "
        "run `kukey db upgrade`\n")
    assert kukey(monkeypatch, database_url, "db", "upgrade") == 0
    assert capsys.readouterr().out.endswith(f" upgraded from revision 0001 to {HEAD}\n")
    assert kukey(monkeypatch, database_url, "db", "current") == 0


def test_current_refuses_to_create_a_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Reading the revision of a SQLite file that is not there is a configuration problem, and no file
    is left behind."""
    path = tmp_path / "missing.db"
    assert kukey(monkeypatch, f"sqlite:///{path}", "db", "current") == 2
    assert "which does not exist" in capsys.readouterr().err
    assert not path.exists()


def test_the_password_is_masked_in_output_and_errors(
        postgres: PostgresServer, pg_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """With a password in KUKEY_DATABASE_URL, `db upgrade` and `db current` show the URL with *** instead,
    and so does the one-line error when the server cannot be reached."""
    url = pg_url.replace(f"//{SUPERUSER}@", f"//{SUPERUSER}:{PASSWORD}@")
    assert kukey(monkeypatch, url, "db", "upgrade") == 0
    assert kukey(monkeypatch, url, "db", "current") == 0
    unreachable = url.replace(f":{postgres.port}/", ":1/")
    assert kukey(monkeypatch, unreachable, "db", "upgrade") == 2
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    assert out.count(f"{SUPERUSER}:***@") == 2
    (line,) = err.splitlines()
    assert line.startswith(f"kukey: the database postgresql+psycopg://{SUPERUSER}:***@127.0.0.1:1/")
    assert "refused: connection failed" in line


@pytest.fixture
def behind(tmp_path: Path, database_url: str) -> Iterator[KukeyWorld]:
    """A world whose bot is not running yet, its database left at revision 0001 by an older kukey."""
    with KukeyWorld(home=tmp_path, run_bot=False, database_url=database_url) as world:
        engine = make_engine(database_url)
        migrate_to(engine, "0001")
        engine.dispose()
        yield world


def test_run_refuses_a_database_behind_with_one_line(behind: KukeyWorld) -> None:
    """`kukey run` on a database at 0001 exits 2 with its one database line saying to run `kukey db
    upgrade`, and leaves the schema alone."""
    process = behind.spawn("run", "--http", "--port", "0")
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert [line for line in out.splitlines() if line.startswith("kukey: database:")] == [
        f"kukey: database: {BEHIND}; fix: upgrade the database's schema as the line above says (back it up first)"]
    assert rows(behind.database_url, "SELECT version_num FROM alembic_version") == [("0001",)]


def test_run_with_auto_migrate_upgrades_and_starts(behind: KukeyWorld) -> None:
    """With KUKEY_AUTO_MIGRATE=1, `kukey run` on a database at 0001 upgrades it and serves Slack."""
    behind.start_process(KUKEY_AUTO_MIGRATE="1")
    assert rows(behind.database_url, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert behind.driver.slash("U0ALICE01", "C0TRADING", "help").ok


def test_the_preflight_checks_a_postgresql_database_without_showing_its_password(pg_url: str) -> None:
    """`kukey doctor`'s (and `kukey run`'s) database and master-key checks work on PostgreSQL: OK for the key
    the audit log was written with, FAIL naming the other key id for another one, and the URL only ever
    with ***."""
    url = pg_url.replace(f"//{SUPERUSER}@", f"//{SUPERUSER}:{PASSWORD}@")
    key, other = generate_master_key(), generate_master_key()
    engine = make_engine(url)
    try:
        init_db(engine)
        with session_scope(engine) as s:
            AuditLog(base64.b64decode(key), FakeClock()).record(s, AuditAction.KUKEY_STARTED, actor="kukey")
    finally:
        engine.dispose()
    checks = ("database", "master key")
    right = run_preflight(checks=checks, env={"KUKEY_DATABASE_URL": url, "KUKEY_MASTER_KEY": key}).results
    wrong = run_preflight(checks=checks, env={"KUKEY_DATABASE_URL": url, "KUKEY_MASTER_KEY": other}).results
    assert [r.status for r in (*right, *wrong)] == [Status.OK, Status.OK, Status.OK, Status.FAIL]
    assert right[0].detail == f"{url.replace(PASSWORD, '***')} is writable"
    assert "the audit log was last signed by master key" in wrong[1].detail
    assert PASSWORD not in " ".join(r.detail + r.fix for r in (*right, *wrong))


def test_the_preflight_refuses_a_database_behind_unless_auto_migrate(database_url: str) -> None:
    """The database check fails on a database at 0001 with the line saying to run `kukey db upgrade`, and
    passes with KUKEY_AUTO_MIGRATE=1 (kukey run will upgrade it)."""
    engine = make_engine(database_url)
    migrate_to(engine, "0001")
    engine.dispose()
    (behind,) = run_preflight(checks=("database",), env={"KUKEY_DATABASE_URL": database_url}).results
    (allowed,) = run_preflight(checks=("database",), env={"KUKEY_DATABASE_URL": database_url,
                                                           "KUKEY_AUTO_MIGRATE": "1"}).results
    assert (behind.status, behind.detail) == (Status.FAIL, BEHIND)
    assert allowed.status == Status.OK
