"""`kukey db upgrade|current`: bring the database schema to this kukey's revision; show where it stands.

The database comes from KUKEY_DATABASE_URL (shown with its password masked). `upgrade` creates a new
database, adopts one made by kukey 0.2 or earlier, or applies the missing migrations, in one transaction
under kukey's write lock, so it is safe while other replicas run (they wait for it). Run it as the
database owner on PostgreSQL (docs/postgresql.md). `current` exits 0 at the head revision, 1 otherwise.
"""

from __future__ import annotations

import argparse

from bot import config
from bot.cli.audit import open_database
from bot.storage import schema, urls
from bot.storage.db import make_engine


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("db", help="upgrade the database schema, or show its revision")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True, parser_class=type(parser))
    upgrade = actions.add_parser("upgrade", help="create or upgrade the schema to this kukey's revision")
    upgrade.set_defaults(func=upgrade_command)
    current = actions.add_parser("current", help="print the schema revision; exit 1 unless it is the head")
    current.set_defaults(func=current_command)


def upgrade_command(args: argparse.Namespace) -> int:
    url = config.Settings.from_env().database_url
    engine = make_engine(url)
    try:
        before, head = schema.upgrade(engine)
    finally:
        engine.dispose()
    if before.at_head:
        what = f"is already at revision {head}"
    elif before.empty:
        what = f"created at revision {head}"
    elif before.current is None:
        what = f"adopted (made by kukey 0.2 or earlier) and upgraded to revision {head}"
    else:
        what = f"upgraded from revision {before.current} to {head}"
    print(f"kukey: database {urls.masked(url)} {what}")
    return 0


def current_command(args: argparse.Namespace) -> int:
    url = config.Settings.from_env().database_url
    engine = open_database(url)  # reading must not create an empty SQLite file
    try:
        found = schema.current(engine)
    finally:
        engine.dispose()
    if found.empty:
        state = "empty: `kukey run` or `kukey db upgrade` creates the schema"
    else:
        state = "up to date" if found.at_head else (found.problem() or "")
    print(f"kukey: database {urls.masked(url)}: revision {found.current or 'none'} (head {found.head}); {state}")
    return 0 if found.at_head else 1
