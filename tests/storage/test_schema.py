"""The schema comes from the migrations, on SQLite and on PostgreSQL: a new database is created at the head
revision and matches the models; one behind is refused with one line, or upgraded on request exactly once
under the write lock however many processes start at once; one from a newer kukey is refused."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

from bot.errors import SchemaError
from bot.storage import schema
from bot.storage.db import init_db, make_engine
from tests.databases import connect

BEHIND = "the database schema is at revision 0001, kukey needs 0008: run `kukey db upgrade`"
STARTS = 4  # processes starting at once on one database (threads with an engine each)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A kukey engine on a new, empty database, on SQLite and on PostgreSQL."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def migrate_to(engine: Engine, revision: str) -> None:
    """Run the migrations up to `revision` only, as an older kukey would have left the database."""
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(schema.MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def test_a_new_database_is_created_at_the_head_and_matches_the_models(engine: Engine) -> None:
    """An empty database is no problem (kukey creates it); init_db creates it at the head revision, and what
    the migrations made is exactly what the models describe (Alembic's autogenerate finds no difference)."""
    assert schema.schema_problem(engine) is None
    assert schema.current(engine).empty
    init_db(engine)
    with engine.connect() as conn:
        assert schema.revision_of(conn) == schema.Revision("0008", "0008", empty=False, known=True)
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []


def test_head_names_the_newest_migration() -> None:
    """schema.HEAD, which spares a database at the head from Alembic, is the newest revision of the migrations."""
    assert schema.head_revision() == schema.HEAD


def test_a_database_at_the_head_is_opened_without_alembic(database_url: str) -> None:
    """A process opening a database that is already at the head never imports Alembic (about 10 MB it would
    keep); creating one does."""
    opens = ("import sys; from bot.storage.db import init_db, make_engine; "
             f"init_db(make_engine({database_url!r})); print('alembic' in sys.modules)")
    said = [subprocess.run([sys.executable, "-c", opens], capture_output=True, text=True, check=True,
                           timeout=120).stdout.strip() for _ in range(2)]
    assert said == ["True", "False"]


def test_a_database_behind_is_refused_with_one_line(engine: Engine) -> None:
    """At revision 0001, init_db refuses with the one line saying what to run and changes nothing;
    schema_problem says the same, and nothing once auto-migration is allowed."""
    migrate_to(engine, "0001")
    with pytest.raises(SchemaError) as caught:
        init_db(engine)
    assert str(caught.value) == BEHIND
    assert schema.schema_problem(engine) == BEHIND
    assert schema.schema_problem(engine, auto_migrate=True) is None
    assert "seen" in tables(engine)


def test_auto_migrate_upgrades_exactly_once_however_many_start_at_once(database_url: str) -> None:
    """Four starts with KUKEY_AUTO_MIGRATE=1 on a database at 0001, released together, all succeed and leave
    it at the head, `seen` dropped once (tests/storage/test_postgres.py holds the lock to show the starts
    queueing on it)."""
    engines = [make_engine(database_url) for _ in range(STARTS)]
    migrate_to(engines[0], "0001")
    barrier, errors = threading.Barrier(STARTS), []

    def start(engine: Engine) -> None:
        barrier.wait(timeout=10)
        try:
            init_db(engine, auto_migrate=True)
        except Exception as exc:  # collected and shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert schema.current(engines[0]).at_head
        assert "seen" not in tables(engines[0])
    finally:
        for engine in engines:
            engine.dispose()


def test_a_revision_from_a_newer_kukey_is_refused(engine: Engine, database_url: str) -> None:
    """A database a newer kukey migrated (a revision these migrations do not have) is refused, also with
    auto-migration: this kukey cannot know what changed."""
    init_db(engine)
    raw = connect(database_url)
    try:
        raw.execute("UPDATE alembic_version SET version_num = '0099'")
    finally:
        raw.close()
    for auto in (False, True):
        with pytest.raises(SchemaError, match="revision 0099, which this kukey does not know"):
            init_db(engine, auto_migrate=auto)
