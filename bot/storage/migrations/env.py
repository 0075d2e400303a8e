"""Alembic's environment for kukey's migrations.

bot.storage.schema runs them on the connection it passes in `config.attributes["connection"]`, inside the
transaction that holds kukey's write lock. Without one (a developer running the `alembic` command, which
reads [tool.alembic] in pyproject.toml), the database is KUKEY_DATABASE_URL's.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from bot.storage import db


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=SQLModel.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    engine = db.make_engine(os.environ.get("KUKEY_DATABASE_URL", "sqlite:///kukey.db"))
    try:
        with engine.begin() as conn:
            run(conn)
    finally:
        engine.dispose()
