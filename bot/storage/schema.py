"""kukey's database schema: Alembic migrations shipped in bot/storage/migrations, run from Python (no
alembic.ini at run time), on SQLite and PostgreSQL alike.

What kukey does with each database it opens for writing (`kukey run`, the CLI's audit/keys/totp/reconcile
commands, the test world), through `prepare`:

    at the head revision       nothing
    new and EMPTY              created at the head revision (no kukey table yet: a first start needs no
                               set-up, on SQLite or on an empty PostgreSQL database)
    behind the head            refused with one line saying to run `kukey db upgrade`, or upgraded when
                               KUKEY_AUTO_MIGRATE=1; a database made by kukey 0.1/0.2's create_all (its
                               tables, no alembic_version) is behind, and revision 0001 adopts it
    at a revision unknown here refused: a newer kukey migrated it

Creating and upgrading run in ONE transaction holding kukey's write lock (bot.storage.db: BEGIN IMMEDIATE
on SQLite, the advisory lock on PostgreSQL), and the revision is read again under the lock, so several
replicas starting at once upgrade exactly once and the others find the work done. PostgreSQL's DDL is
transactional, and so is SQLite's: a failed upgrade leaves the database as it was.

A new revision (after a model change), in the repository (pyproject.toml's [tool.alembic]):
`KUKEY_DATABASE_URL=sqlite:///dev.db alembic upgrade head`, then `alembic revision --autogenerate -m "what
changed"`, then edit it (a migration never imports the models) and set HEAD below to its revision;
`alembic check` says whether the models and the migrations agree, and tests/storage/test_schema.py checks
it on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import SchemaError, StorageError

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision in MIGRATIONS (tests/storage/test_schema.py checks it): a database already there is
# opened without importing Alembic, which would hold about 10 MB of the bot's memory for good. Alembic is
# imported only to create, upgrade or place a database at another revision.
HEAD = "0008"
UPGRADE = "run `kukey db upgrade`"
VERSION_TABLE = "alembic_version"  # Alembic's default: one row, the revision
READ_VERSION = text(f"SELECT version_num FROM {VERSION_TABLE}")  # noqa: S608 - a constant name
INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL's SQLSTATE when a role lacks a right (e.g. CREATE on the schema)
# Tables only kukey makes: a database holding none of them (and no alembic_version) is new.
KUKEY_TABLES = frozenset({"request", "approval", "enrollment", "totp_use", "api_key", "job", "audit_event",
                          "audit_key"})


@dataclass(frozen=True)
class Revision:
    """Where a database stands: `current` is its revision (None: none recorded), `empty` that it holds
    no kukey table at all."""

    current: str | None
    head: str
    empty: bool
    known: bool  # `current` is one of this kukey's revisions (or None)

    @property
    def at_head(self) -> bool:
        return self.current == self.head

    @property
    def behind(self) -> bool:
        return not self.at_head and self.known and not self.empty

    def problem(self, *, auto_migrate: bool = False) -> str | None:
        """One line when kukey cannot start on this database as it is; None when it can."""
        if self.at_head or self.empty or (auto_migrate and self.behind):
            return None
        if not self.known:
            return (f"the database schema is at revision {self.current}, which this kukey does not know "
                    f"(its newest is {self.head}): a newer kukey upgraded it; run that version")
        if self.current is None:
            return (f"the database was made by kukey 0.2 or earlier and has no schema revision; kukey needs "
                    f"revision {self.head}: {UPGRADE}")
        return f"the database schema is at revision {self.current}, kukey needs {self.head}: {UPGRADE}"


@cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


def head_revision() -> str:
    head = _script().get_current_head()
    assert head is not None, "bot/storage/migrations has no revision"
    return head


def revision_of(conn: Connection) -> Revision:
    """The revision of the database behind `conn` (read in its transaction). Read here rather than by
    Alembic's MigrationContext, which logs two lines each time it is made."""
    names = set(inspect(conn).get_table_names())
    current = conn.execute(READ_VERSION).scalar() if VERSION_TABLE in names else None
    if current == HEAD:
        return Revision(current, HEAD, empty=False, known=True)
    empty = current is None and not KUKEY_TABLES & names
    return Revision(current, head_revision(), empty, _is_known(current))


def _is_known(rev: str | None) -> bool:
    from alembic.util import CommandError

    try:
        return rev is None or _script().get_revision(rev) is not None
    except CommandError:  # a revision id these migrations do not have
        return False


@contextmanager
def _storage_errors(engine: Engine) -> Iterator[None]:
    """A database that cannot be reached or refuses becomes one StorageError line (password masked)."""
    try:
        yield
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        where = engine.url.render_as_string(hide_password=True)
        if getattr(getattr(exc, "orig", None), "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
            reason += " (make or upgrade the schema as the database's owner: `kukey db upgrade`, docs/postgresql.md)"
        raise StorageError(f"the database {where} refused: {reason}") from exc


def current(engine: Engine) -> Revision:
    """Where the database stands (`kukey db current`)."""
    with _storage_errors(engine), engine.connect() as conn:
        return revision_of(conn)


def schema_problem(engine: Engine, *, auto_migrate: bool = False) -> str | None:
    """None when kukey can start on this database (at the head revision, or empty: `kukey run` creates
    it; with `auto_migrate` also when behind), else the one-line problem, e.g. "the database schema is
    at revision 0001, kukey needs 0002: run `kukey db upgrade`". For `kukey doctor`'s preflight."""
    return current(engine).problem(auto_migrate=auto_migrate)


def prepare(engine: Engine, *, auto_migrate: bool = False) -> None:
    """Ready the database for writing (see the module docstring); SchemaError names what to run."""
    found = current(engine)
    problem = found.problem(auto_migrate=auto_migrate)
    if problem is not None:
        raise SchemaError(problem)
    if not found.at_head:
        upgrade(engine, create_only=not auto_migrate)


def upgrade(engine: Engine, *, create_only: bool = False) -> tuple[Revision, str]:
    """Bring the database to the head revision under kukey's write lock; returns where it stood before
    (read under the lock) and the head. With `create_only`, only a new, empty database is touched: one
    found behind once the lock is held is refused, as `prepare` refuses it."""
    with _storage_errors(engine), engine.begin() as conn:
        before = revision_of(conn)
        problem = before.problem(auto_migrate=not create_only)
        if problem is not None:
            raise SchemaError(problem)
        if not before.at_head:
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    return before, head_revision()
