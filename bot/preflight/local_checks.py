"""The checks on this host: the settings, the policy, the database, and the master key against the database.

A wrong master key on an existing database is a FAIL, never silently used: kukey would sign the audit log
with another key (breaking the chain) and could not decrypt the passphrases it needs to revoke keys.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from bot import config
from bot.errors import ConfigError, CryptoError, StorageError
from bot.policy_file import PolicyErrors
from bot.preflight.context import Context
from bot.preflight.results import CheckResult, fail, ok
from bot.security.crypto import SecretBox, key_id
from bot.storage import urls
from bot.storage.db import make_engine
from bot.storage.schema import schema_problem

BUSY_TIMEOUT_S = 5.0
DATABASE_FIX = ("make the directory writable by the user kukey runs as, or point KUKEY_DATABASE_URL elsewhere "
                "(Docker: mount a volume on /data)")
MASTER_KEY_FIX = ("set KUKEY_MASTER_KEY (or KUKEY_MASTER_KEY_FILE) to the key this database was written with "
                  "(after `kukey rekey`, the new one)")
# Encrypted columns, one sample of each is decrypted: (table, id column, blob column, associated data prefix).
_ENCRYPTED = (("enrollment", "user_id", "seed_enc", "totp"), ("api_key", "api_key", "passphrase_enc", "key"),
              ("request", "id", "pending_passphrase_enc", "req"))


def check_settings(ctx: Context) -> CheckResult:
    """The settings no other check reads (the other mode's Slack secret only for its shape), and the .env file."""
    other = "SLACK_APP_TOKEN" if ctx.http_mode else "SLACK_SIGNING_SECRET"
    problems = list(ctx.config.load_problems)
    try:
        settings = ctx.config.settings(("KUKEY_METRICS_PORT", "KUKEY_LOG_LEVEL", "KUKEY_LEASE_SECONDS", other))
    except ConfigError as exc:
        problems += str(exc).splitlines()
    if problems:
        raise ConfigError("\n".join(problems))
    port = settings.metrics_port
    return ok("settings", f"{'HTTP mode' if ctx.http_mode else 'Socket Mode'}; log level {settings.log_level}; "
                          + (f"ops endpoints on port {port}" if port is not None else "ops endpoints off"))


def check_policy(ctx: Context) -> CheckResult:
    try:
        policy = ctx.policy()
    except PolicyErrors as exc:
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        return fail("policy", f"{exc.problems[0]}{more}",
                    f"run `kukey policy check {exc.file}` and fix every problem it lists")
    rules = len(policy.rules)
    return ok("policy", f"{policy.file}: {rules} rule{'s' if rules != 1 else ''}, "
                        f"approvals channel {policy.approvals_channel}")


def check_database(ctx: Context) -> CheckResult:
    """An existing database takes a write (rolled back) and is at the schema kukey needs (or will be
    upgraded, with KUKEY_AUTO_MIGRATE=1); for a new SQLite file, its directory takes a file. A PostgreSQL
    database is shown with its password masked, and probed with a temporary table: the runtime role of
    docs/postgresql.md may not create tables."""
    settings = ctx.config.settings(("KUKEY_DATABASE_URL", "KUKEY_AUTO_MIGRATE"))
    url = settings.database_url
    shown = urls.masked(url).removeprefix(urls.SQLITE_PREFIX)
    postgres = urls.is_postgres(url)
    if not postgres and not Path(shown).exists():
        return _new_database(Path(shown))
    engine = make_engine(url, busy_timeout_s=BUSY_TIMEOUT_S)
    try:
        with engine.connect() as conn:
            transaction = conn.begin()
            try:
                create = "CREATE TEMPORARY TABLE" if postgres else "CREATE TABLE"
                conn.exec_driver_sql(f"{create} kukey_preflight_probe (x INTEGER)")
                conn.exec_driver_sql("INSERT INTO kukey_preflight_probe (x) VALUES (1)")
            finally:
                transaction.rollback()
        problem = schema_problem(engine, auto_migrate=settings.auto_migrate)
    except (SQLAlchemyError, StorageError) as exc:
        cause = exc.__cause__ if isinstance(exc, StorageError) else exc
        return fail("database", f"cannot write {shown}: {getattr(cause, 'orig', None) or exc}", DATABASE_FIX)
    finally:
        engine.dispose()
    if problem:
        return fail("database", problem, "upgrade the database's schema as the line above says (back it up first)")
    return ok("database", f"{shown} is writable")


def _new_database(path: Path) -> CheckResult:
    """`kukey run` creates the file; SQLite needs its directory to exist and take new files (-wal, -shm)."""
    parent = path.parent
    if not parent.exists():
        return fail("database", f"the directory {parent} does not exist",
                    "create it (kukey does not create directories) or point KUKEY_DATABASE_URL elsewhere")
    if not parent.is_dir():
        return fail("database", f"cannot create {path}: {parent} is not a directory",
                    "point KUKEY_DATABASE_URL at a file in a directory")
    try:
        handle, probe = tempfile.mkstemp(dir=parent, prefix=".kukey-preflight-")
    except OSError as exc:
        return fail("database", f"cannot create files in {parent}: {exc.strerror or exc}", DATABASE_FIX)
    os.close(handle)
    os.unlink(probe)
    return ok("database", f"{path} does not exist yet; `kukey run` creates it ({parent} is writable)")


def check_master_key(ctx: Context) -> CheckResult:
    master = ctx.config.settings(("KUKEY_MASTER_KEY",), need=[config.MASTER_KEY]).master_key_bytes()
    kid = key_id(master)
    database = ctx.config.reported_elsewhere(("KUKEY_DATABASE_URL",))
    if database is None:
        return ok("master key", f"key id {kid} (not compared with the database: see database)")
    url = database.database_url
    if not urls.is_postgres(url) and not Path(url.removeprefix(urls.SQLITE_PREFIX)).is_file():
        return ok("master key", f"key id {kid} (no database yet)")
    engine = make_engine(url, busy_timeout_s=BUSY_TIMEOUT_S)
    try:
        with engine.connect() as conn:
            problem = master_key_problem(conn, kid, SecretBox(master))
    except SQLAlchemyError as exc:
        return fail("master key", f"cannot read the database: {getattr(exc, 'orig', None) or exc}",
                    "see the database check (`kukey doctor`)")
    finally:
        engine.dispose()
    if problem:
        return fail("master key", problem, MASTER_KEY_FIX)
    return ok("master key", f"key id {kid} matches the audit log and decrypts the stored secrets")


def master_key_problem(conn: Connection, kid: str, box: SecretBox) -> str | None:
    """Why this master key does not fit the database, or None when it does."""
    tables = set(inspect(conn).get_table_names())
    if "audit_key" in tables and conn.execute(text("SELECT 1 FROM audit_key WHERE key_id = :kid"),
                                              {"kid": kid}).first():
        return f"key id {kid} was retired by `kukey rekey`"
    if "audit_event" in tables:
        last = conn.exec_driver_sql("SELECT key_id FROM audit_event ORDER BY seq DESC LIMIT 1").first()
        if last is not None and last[0] != kid:
            return f"the audit log was last signed by master key {last[0]}, but this key is {kid}"
    for table, ref, column, prefix in _ENCRYPTED:
        if table not in tables:
            continue
        # Identifiers come from the constant table above, never from input.
        row = conn.exec_driver_sql(
            f"SELECT {ref}, {column} FROM {table} WHERE {column} IS NOT NULL LIMIT 1").first()  # noqa: S608
        if row is None:
            continue
        try:
            box.decrypt_bytes(bytes(row[1]), aad=f"{prefix}:{row[0]}")
        except CryptoError as exc:
            return f"a stored secret ({table}.{column}) does not decrypt: {exc}"
    return None
