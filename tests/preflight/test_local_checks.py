"""The preflight as a whole, and its checks on this host: settings, policy, database, master key."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.clock import FakeClock
from bot.domain.secret import Secret
from bot.preflight import EVERY_CHECK, Status, run_preflight
from bot.security.crypto import SecretBox, generate_master_key
from bot.storage.audit import AuditLog
from bot.storage.audit_rekey import rekey_audit
from bot.storage.db import init_db, make_engine, session_scope
from bot.storage.tables import Enrollment
from kukey_sandbox.world import KukeyWorld
from tests.preflight.conftest import by_check, not_ok, only_problem

EVERY_RESULT = ["settings", "policy", "database", "master key", "slack bot token", "slack scopes", "slack app token",
                "slack clock",
                "channel C0APPROVALS", "channel C0INCIDENT", "channel C0AUDITLOG", "user group S0APPROVERS",
                "kucoin key", "kucoin clock"]


def test_a_correct_installation_passes_every_check(env: dict[str, str]) -> None:
    """Set up as the README says, every check is OK, in order, and the report carries the bot's user id."""
    report = run_preflight(env=env)
    assert [r.check for r in report.results] == EVERY_RESULT
    assert not_ok(report) == []
    assert report.bot_user_id == "U0KUKEYBOT"
    assert report.summary() == "14 of 14 checks passed"


def test_http_mode_checks_the_signing_secret_instead_of_the_app_token(env: dict[str, str]) -> None:
    """In HTTP mode the app token is not needed and the signing secret is checked in its place."""
    del env["SLACK_APP_TOKEN"]
    report = run_preflight(env=env, http_mode=True)
    assert [r.check for r in report.results] == [
        "slack signing secret" if c == "slack app token" else c for c in EVERY_RESULT]
    assert not_ok(report) == []


def test_only_the_checks_asked_for_run(env: dict[str, str]) -> None:
    """A command that needs some checks runs only those, in the usual order."""
    report = run_preflight(env=env, checks=("master key", "database"))
    assert [r.check for r in report.results] == ["database", "master key"]
    with pytest.raises(ValueError, match="no such preflight check: slack"):
        run_preflight(env=env, checks=("slack",))
    assert set(EVERY_CHECK) >= {"channels", "user groups"}


def test_the_env_file_is_what_every_check_reads(env: dict[str, str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With the configuration only in ./.env (as the README sets it up), every check sees it, as `kukey run` does."""
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert not_ok(run_preflight()) == []


def test_each_configuration_problem_is_reported_once(env: dict[str, str], tmp_path: Path) -> None:
    """Several bad settings at once: each is named by exactly one FAIL line, and the checks that depend
    on a broken one are skipped rather than failing again."""
    key_file = tmp_path / "master.key"
    key_file.write_text("garbage!\n", encoding="utf-8")
    del env["KUKEY_MASTER_KEY"]
    env.update(KUCOIN_API_URL="ftp://x", SLACK_API_URL="ftp://y", KUKEY_LOG_LEVEL="LOUD",
               KUKEY_MASTER_KEY_FILE=str(key_file))
    report = run_preflight(env=env)
    failures = [r.lines()[0] for r in report.having(Status.FAIL)]
    assert failures == [
        "FAIL settings: KUKEY_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got 'LOUD'",
        "FAIL master key: KUKEY_MASTER_KEY_FILE is not valid base64 (run `kukey keygen` for a new one)",
        "FAIL slack bot token: SLACK_API_URL is not an http(s) URL: 'ftp://y'",
        "FAIL kucoin key: KUCOIN_API_URL is not an http(s) URL: 'ftp://x'",
    ]
    assert {r.check for r in report.having(Status.SKIP)} == {
        "slack scopes", "slack app token", "slack clock", "channels", "user groups", "kucoin clock"}


def test_a_missing_env_file_fails_the_settings_check(env: dict[str, str]) -> None:
    """KUKEY_ENV_FILE naming a file that does not exist is a FAIL of the settings check, not silence."""
    env["KUKEY_ENV_FILE"] = "/nonexistent/.env"
    result = only_problem(run_preflight(env=env))
    assert result.lines()[0] == ("FAIL settings: KUKEY_ENV_FILE points to '/nonexistent/.env', which is not a "
                                 "readable file")


def test_an_invalid_policy_fails_with_its_first_problem(env: dict[str, str]) -> None:
    """A policy with problems fails naming the first one and pointing to `kukey policy check`; the channel
    and user-group checks wait for a valid policy."""
    Path(env["KUKEY_POLICY"]).write_text('approvals_channel = "#ops"\n[[rules]]\nmatch = "*"\n', encoding="utf-8")
    report = run_preflight(env=env)
    result = by_check(report)["policy"]
    assert result.status == Status.FAIL
    assert result.detail.startswith(f"{env['KUKEY_POLICY']}: approvals_channel: must be a Slack channel id")
    assert result.detail.endswith("(and 1 more)")
    assert result.fix == f"run `kukey policy check {env['KUKEY_POLICY']}` and fix every problem it lists"
    assert [r.check for r in report.having(Status.SKIP)] == ["channels", "user groups"]


def test_a_new_database_needs_a_writable_directory_and_leaves_no_trace(env: dict[str, str], tmp_path: Path) -> None:
    """Without a database yet, the check proves its directory takes files, and leaves nothing behind."""
    before = sorted(p.name for p in tmp_path.iterdir())
    result = by_check(run_preflight(env=env, checks=("database", "master key")))
    assert result["database"].lines() == [
        f"OK database: {tmp_path / 'kukey.db'} does not exist yet; `kukey run` creates it ({tmp_path} is writable)"]
    assert result["master key"].detail.endswith("(no database yet)")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(("where", "detail"), [
    ("blocker/kukey.db", "cannot create {db}: {home}/blocker is not a directory"),
    ("missing/kukey.db", "the directory {home}/missing does not exist"),
])
def test_a_database_path_that_cannot_be_written_fails(env: dict[str, str], tmp_path: Path, where: str,
                                                      detail: str) -> None:
    """A database under a regular file, or in a directory that does not exist, fails with what to do."""
    (tmp_path / "blocker").write_text("", encoding="utf-8")
    env["KUKEY_DATABASE_URL"] = f"sqlite:///{tmp_path / where}"
    result = only_problem(run_preflight(env=env))
    assert result.check == "database"
    assert result.detail == detail.format(db=tmp_path / where, home=tmp_path)
    assert "KUKEY_DATABASE_URL" in result.fix


def test_an_existing_database_takes_a_write_that_is_rolled_back(env: dict[str, str]) -> None:
    """An existing database is written to (and rolled back): no trace of the probe is left."""
    _audit_event(env, env["KUKEY_MASTER_KEY"])
    assert by_check(run_preflight(env=env, checks=("database",)))["database"].detail.endswith("is writable")
    engine = make_engine(env["KUKEY_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            names = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        engine.dispose()
    assert "audit_event" in names and "kukey_preflight_probe" not in names


def test_a_file_that_is_not_a_database_fails(env: dict[str, str], tmp_path: Path) -> None:
    """A database path holding something else fails the database check with SQLite's reason."""
    db = Path(env["KUKEY_DATABASE_URL"].removeprefix("sqlite:///"))
    db.write_bytes(b"not a database, just some bytes " * 64)
    result = by_check(run_preflight(env=env, checks=("database",)))["database"]
    assert result.lines()[0] == f"FAIL database: cannot write {db}: file is not a database"


def _audit_event(env: dict[str, str], master: str) -> None:
    engine = make_engine(env["KUKEY_DATABASE_URL"])
    try:
        init_db(engine)
        with session_scope(engine) as s:
            AuditLog(base64.b64decode(master), FakeClock(datetime.now(UTC))).record(s, "kukey.started", actor="kukey")
    finally:
        engine.dispose()


def test_a_master_key_that_is_not_base64_of_32_bytes_fails(env: dict[str, str]) -> None:
    """A master key that is not base64 of 32 bytes fails the master key check from the settings validation."""
    env["KUKEY_MASTER_KEY"] = base64.b64encode(b"too short").decode()
    result = only_problem(run_preflight(env=env))
    assert result.lines()[0] == "FAIL master key: KUKEY_MASTER_KEY must be base64 of exactly 32 bytes, got 9 bytes"


def test_another_master_key_than_the_audit_logs_fails(env: dict[str, str]) -> None:
    """A valid key that did not sign the audit log is refused, naming both key ids."""
    _audit_event(env, generate_master_key())
    result = only_problem(run_preflight(env=env))
    assert result.check == "master key"
    assert result.detail.startswith("the audit log was last signed by master key ")
    assert "KUKEY_MASTER_KEY" in result.fix


def test_a_retired_master_key_fails(env: dict[str, str]) -> None:
    """The key an earlier `kukey rekey` retired is refused although it once signed the log; the new one passes."""
    old, new = env["KUKEY_MASTER_KEY"], generate_master_key()
    _audit_event(env, old)
    engine = make_engine(env["KUKEY_DATABASE_URL"])
    try:
        with session_scope(engine) as s:
            rekey_audit(s, old_master=base64.b64decode(old), new_master=base64.b64decode(new),
                        clock=FakeClock(datetime.now(UTC)))
    finally:
        engine.dispose()
    assert only_problem(run_preflight(env=env)).detail.endswith("was retired by `kukey rekey`")
    env["KUKEY_MASTER_KEY"] = new
    assert not_ok(run_preflight(env=env)) == []


def test_a_stored_secret_under_another_key_fails(env: dict[str, str]) -> None:
    """A TOTP seed encrypted under another master key fails the master key check, without showing the seed."""
    engine = make_engine(env["KUKEY_DATABASE_URL"])
    try:
        init_db(engine)
        box = SecretBox(base64.b64decode(generate_master_key()))
        with session_scope(engine) as s:
            s.add(Enrollment(user_id="U1", seed_enc=box.encrypt(Secret("JBSWY3DPEHPK3PXP"), aad="totp:U1"),
                             created_at=datetime.now(UTC)))
    finally:
        engine.dispose()
    result = only_problem(run_preflight(env=env))
    assert result.check == "master key"
    assert result.detail.startswith("a stored secret (enrollment.seed_enc) does not decrypt: ")
    assert "JBSWY3DPEHPK3PXP" not in result.detail


def test_a_master_key_that_fits_reports_its_id(world: KukeyWorld, env: dict[str, str]) -> None:
    """The key the database was written with passes, and says it matched the audit log and the secrets."""
    _audit_event(env, world.master_key)
    assert by_check(run_preflight(env=env))["master key"].detail.endswith(
        "matches the audit log and decrypts the stored secrets")
