"""The suite's own PostgreSQL server: started from the installed programs, reachable over TCP on
127.0.0.1 with psycopg 3 through SQLAlchemy, one fresh database per test."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from tests.postgres import PostgresServer


def test_a_fresh_database_answers_over_tcp(pg_url: str, postgres: PostgresServer) -> None:
    """A new database on the throwaway server takes a table, a row and a query, as PostgreSQL 15."""
    engine = create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (id int primary key, v text)"))
            conn.execute(text("INSERT INTO t VALUES (1, 'x')"))
            assert conn.execute(text("SELECT v FROM t")).scalar_one() == "x"
            version = conn.execute(text("SHOW server_version_num")).scalar_one()
    finally:
        engine.dispose()
    assert int(version) // 10000 == 15
    assert pg_url.startswith("postgresql+psycopg://") and f":{postgres.port}/" in pg_url
