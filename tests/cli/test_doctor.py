"""`kukey doctor` against a real KuCoin sandbox and Slack fake: all OK, then a FAIL line per broken thing."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.doctor import Result, run_checks
from bot.domain.clock import FakeClock
from bot.domain.keys import KeySpec, Permission
from bot.domain.secret import Secret
from bot.kucoin.client import KucoinClient
from bot.kucoin.models import generate_passphrase
from bot.security.crypto import SecretBox, generate_master_key
from bot.storage.audit import AuditLog
from bot.storage.audit_rekey import rekey_audit
from bot.storage.db import init_db, make_engine, session_scope
from bot.storage.tables import Enrollment
from kukey_sandbox.kucoin.sandbox import KucoinSandbox
from kukey_sandbox.slack.fake import SlackFake
from kukey_sandbox.world import default_policy

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "sandbox" / "kukey_sandbox" / "kucoin" / "seed.json"
CHECKS = ["settings", "slack auth", "kucoin key", "clock", "database", "policy", "master key"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[KucoinSandbox]:
    with KucoinSandbox() as sb:
        yield sb


@pytest.fixture(scope="module")
def fake() -> Iterator[SlackFake]:
    with SlackFake() as f:
        yield f


def env_for(sandbox: KucoinSandbox, fake: SlackFake, home: Path) -> dict[str, str]:
    """A complete, correct configuration, as KukeyWorld.env() builds it."""
    policy = home / "policy.toml"
    policy.write_text(default_policy(), encoding="utf-8")
    creds = sandbox.master_credentials
    return {
        "KUCOIN_API_URL": sandbox.url, "KUCOIN_API_KEY": creds.api_key,
        "KUCOIN_API_SECRET": creds.api_secret.reveal(),
        "KUCOIN_API_PASSPHRASE": creds.api_passphrase.reveal(),
        "SLACK_API_URL": fake.api_url, "SLACK_BOT_TOKEN": fake.bot_token, "SLACK_APP_TOKEN": fake.app_token,
        "KUKEY_DATABASE_URL": f"sqlite:///{home / 'kukey.db'}", "KUKEY_POLICY": str(policy),
        "KUKEY_MASTER_KEY": generate_master_key(),
    }


@pytest.fixture
def env(sandbox: KucoinSandbox, fake: SlackFake, tmp_path: Path) -> dict[str, str]:
    return env_for(sandbox, fake, tmp_path)


def by_check(results: list[Result]) -> dict[str, Result]:
    assert [r.check for r in results] == CHECKS
    return {r.check: r for r in results}


def only_failure(results: list[Result]) -> Result:
    failed = [r for r in results if r.status != "OK"]
    assert len(failed) == 1, [r.lines() for r in results]
    assert failed[0].fix, "a failure says what to do"
    return failed[0]


def test_all_checks_pass_and_exit_zero(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """With a correct configuration every check prints an OK line and `kukey doctor` exits 0."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":", 1)[0] for line in out[:-1]] == [f"OK {c}" for c in CHECKS]
    assert out[1] == "OK slack auth: bot kukey (U0KUKEYBOT) in workspace kukey sandbox (T0KUKEY00)"
    assert out[2].startswith("OK kucoin key: master key 65a1f0c2d4e5f60718293a4b (uid 100000001) with ")
    assert "General" in out[2]
    assert out[-1] == "kukey doctor: 7 of 7 checks passed"


def test_wrong_bot_token_fails_slack_auth(env: dict[str, str]) -> None:
    """A bot token Slack does not know gives FAIL slack auth with invalid_auth and where to get the token."""
    env["SLACK_BOT_TOKEN"] = "xoxb-0000-not-the-token"
    result = only_failure(run_checks(env))
    assert result.lines()[0] == "FAIL slack auth: auth.test refused the bot token: invalid_auth"
    assert "Bot User OAuth Token" in result.fix
    assert "xoxb-0000-not-the-token" not in "\n".join(result.lines())


def test_wrong_kucoin_secret_fails_the_key_check(env: dict[str, str]) -> None:
    """A wrong API secret gives FAIL kucoin key with KuCoin's refusal, and never prints the secret."""
    env["KUCOIN_API_SECRET"] = "11111111-2222-3333-4444-555555555555"
    result = only_failure(run_checks(env))
    assert result.check == "kucoin key"
    # The secret also signs the passphrase (key version 2), so KuCoin refuses that first.
    assert result.detail == ("KuCoin refused GET /api/v1/user/api-key: "
                             "KuCoin rejected the API passphrase (code 400004).")
    assert "KUCOIN_API_SECRET" in result.fix
    assert "11111111-2222" not in "\n".join(result.lines())


def test_sub_account_key_is_not_a_master_key(env: dict[str, str], sandbox: KucoinSandbox) -> None:
    """A sub-account's own key authenticates but is refused: kukey needs the master account's key."""
    creds = sandbox.master_credentials
    with KucoinClient(base_url=sandbox.url, api_key=creds.api_key, api_secret=creds.api_secret,
                      api_passphrase=creds.api_passphrase, clock=FakeClock(datetime.now(UTC))) as master:
        passphrase = generate_passphrase()
        created = master.create_key(KeySpec("delta-research", frozenset({Permission.GENERAL})),
                                    passphrase=passphrase, remark="doctor-test")
    assert created.api_secret is not None
    env.update(KUCOIN_API_KEY=created.api_key, KUCOIN_API_SECRET=created.api_secret.reveal(),
               KUCOIN_API_PASSPHRASE=passphrase.reveal())
    result = only_failure(run_checks(env))
    assert result.lines()[0] == (f"FAIL kucoin key: key {created.api_key} is a sub-account key, "
                                 "not the master account's")


def test_master_key_without_general_fails(fake: SlackFake, tmp_path: Path) -> None:
    """A master key without the General permission gives FAIL kucoin key with how to enable it."""
    seed = json.loads(SEED.read_text(encoding="utf-8"))
    seed["masters"][0]["permissions"] = ["Spot"]
    with KucoinSandbox(seed=seed) as sandbox:
        result = only_failure(run_checks(env_for(sandbox, fake, tmp_path)))
    assert result.check == "kucoin key"
    assert result.detail.endswith("lacks the General permission (has Spot)")
    assert "enable General" in result.fix


@pytest.mark.parametrize(("skew_ms", "status", "exit_code"), [(3000, "WARN", 0), (-8000, "FAIL", 1)])
def test_clock_skew_warns_then_fails(env: dict[str, str], sandbox: KucoinSandbox,
                                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                     skew_ms: int, status: str, exit_code: int) -> None:
    """KuCoin's clock 3 s off gives a WARN (exit 0); 8 s off gives a FAIL (exit 1); both advise NTP."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sandbox.set_clock_skew(skew_ms)
    try:
        assert main(["doctor"]) == exit_code
    finally:
        sandbox.set_clock_skew(0)
    out = capsys.readouterr().out.splitlines()
    line = next(i for i, text in enumerate(out) if text.startswith(f"{status} clock:"))
    where = "behind" if skew_ms > 0 else "ahead of"
    assert out[line].startswith(f"{status} clock: this host is {abs(skew_ms) // 1000}.")
    assert out[line].endswith(f"s {where} KuCoin")
    assert out[line + 1].startswith("  fix: sync this host's clock with NTP")


def test_unwritable_database_path_fails(env: dict[str, str], tmp_path: Path) -> None:
    """A database path that cannot be created gives FAIL database with what to do."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    env["KUKEY_DATABASE_URL"] = f"sqlite:///{blocker / 'kukey.db'}"
    result = only_failure(run_checks(env))
    assert result.check == "database"
    assert result.detail.startswith(f"cannot write {blocker / 'kukey.db'}: unable to open database file")
    assert "KUKEY_DATABASE_URL" in result.fix


def test_database_check_rolls_back_its_probe(env: dict[str, str], tmp_path: Path) -> None:
    """The database check leaves no trace of its test write in the database."""
    assert by_check(run_checks(env))["database"].status == "OK"
    engine = make_engine(env["KUKEY_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
            names = {r[0] for r in rows}
    finally:
        engine.dispose()
    assert "audit_event" in names
    assert "kukey_doctor_probe" not in names


def test_broken_policy_fails_with_its_first_problem(env: dict[str, str]) -> None:
    """A policy with problems gives FAIL policy naming the first one and pointing to `kukey policy check`."""
    bad = 'approvals_channel = "#ops"\n[[rules]]\nmatch = "*"\n'
    Path(env["KUKEY_POLICY"]).write_text(bad, encoding="utf-8")
    result = only_failure(run_checks(env))
    assert result.check == "policy"
    assert result.detail.startswith(f"{env['KUKEY_POLICY']}: approvals_channel: must be a Slack channel id")
    assert result.detail.endswith("(and 1 more)")
    assert result.fix == f"run `kukey policy check {env['KUKEY_POLICY']}` and fix every problem it lists"


def test_master_key_that_is_not_base64_fails(env: dict[str, str]) -> None:
    """A master key that is not base64 of 32 bytes gives FAIL master key from the settings validation."""
    env["KUKEY_MASTER_KEY"] = base64.b64encode(b"too short").decode()
    result = only_failure(run_checks(env))
    assert result.lines()[0] == ("FAIL master key: KUKEY_MASTER_KEY must be base64 of exactly 32 bytes, "
                                 "got 9 bytes")


def _audit_event(env: dict[str, str], master: str) -> None:
    engine = make_engine(env["KUKEY_DATABASE_URL"])
    try:
        init_db(engine)
        with session_scope(engine) as s:
            audit = AuditLog(base64.b64decode(master), FakeClock(datetime.now(UTC)))
            audit.record(s, "kukey.started", actor="kukey")
    finally:
        engine.dispose()


def test_other_master_key_than_the_audit_log_fails(env: dict[str, str]) -> None:
    """A valid key that did not sign the audit log is refused: it names both key ids."""
    _audit_event(env, generate_master_key())
    result = only_failure(run_checks(env))
    assert result.check == "master key"
    assert result.detail.startswith("the audit log was last signed by master key ")
    assert "KUKEY_MASTER_KEY" in result.fix


def test_retired_master_key_fails(env: dict[str, str]) -> None:
    """The key an earlier `kukey rekey` retired is refused even though it once signed the log."""
    old, new = env["KUKEY_MASTER_KEY"], generate_master_key()
    _audit_event(env, old)
    engine = make_engine(env["KUKEY_DATABASE_URL"])
    try:
        with session_scope(engine) as s:
            rekey_audit(s, old_master=base64.b64decode(old), new_master=base64.b64decode(new),
                        clock=FakeClock(datetime.now(UTC)))
    finally:
        engine.dispose()
    result = only_failure(run_checks(env))
    assert result.check == "master key"
    assert result.detail.endswith("was retired by `kukey rekey`")
    env["KUKEY_MASTER_KEY"] = new
    assert by_check(run_checks(env))["master key"].status == "OK"


def test_stored_secret_under_another_key_fails(env: dict[str, str]) -> None:
    """A TOTP seed encrypted under another master key makes the master key check fail."""
    engine = make_engine(env["KUKEY_DATABASE_URL"])
    try:
        init_db(engine)
        box = SecretBox(base64.b64decode(generate_master_key()))
        with session_scope(engine) as s:
            s.add(Enrollment(user_id="U1", seed_enc=box.encrypt(Secret("JBSWY3DPEHPK3PXP"), aad="totp:U1"),
                             created_at=datetime.now(UTC)))
    finally:
        engine.dispose()
    result = only_failure(run_checks(env))
    assert result.check == "master key"
    assert result.detail.startswith("a stored secret does not decrypt: ")
    assert "JBSWY3DPEHPK3PXP" not in result.detail


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_nothing_configured_fails_every_check_without_a_traceback(tmp_path: Path) -> None:
    """`python -m bot doctor` with nothing set prints FAIL for every check and exits 1, with no traceback."""
    dead = f"http://127.0.0.1:{_closed_port()}"
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    env.update(KUCOIN_API_URL=dead, SLACK_API_URL=dead + "/api/", SLACK_BOT_TOKEN="xoxb-1-x",
               KUKEY_DATABASE_URL=f"sqlite:///{tmp_path / 'missing' / 'kukey.db'}")
    done = subprocess.run([sys.executable, "-m", "bot", "doctor"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=env, check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if not line.startswith("  fix: ")]
    assert [line.split(":", 1)[0] for line in lines[:-1]] == [f"FAIL {c}" for c in CHECKS]
    assert lines[-1] == "kukey doctor: 0 of 7 checks passed, 7 failed"
