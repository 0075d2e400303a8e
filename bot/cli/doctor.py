"""`kukey doctor`: check the configuration against the real services, one line per check.

    OK slack auth: bot kukey (U0KUKEYBOT) in workspace acme (T0123)
    FAIL kucoin key: KuCoin rejected the request signature (check the API secret)
      fix: set KUCOIN_API_SECRET to the secret shown when the master key was created

Checks: settings, Slack auth (auth.test), the KuCoin master key (who-am-I: isMaster, General), the clock
offset to KuCoin, the database is writable, the policy, the master key (valid, and the one the database
was written with). Each check catches its own failure; exit 0 when none fails (a WARN does not fail).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from bot import config
from bot.config import Settings
from bot.domain.clock import SystemClock
from bot.errors import ConfigError, CryptoError, KucoinAuthError, KucoinError, KucoinUnavailable
from bot.kucoin.client import KucoinClient
from bot.kucoin.ratelimit import RetryPolicy
from bot.policy_file import PolicyErrors, load_policy
from bot.security.crypto import SecretBox, key_id
from bot.storage.db import init_db, make_engine

CLOCK_WARN_MS = 1000
CLOCK_FAIL_MS = 5000
TIMEOUT_S = 10.0
_KUCOIN_RETRIES = RetryPolicy(max_attempts=2, max_total_wait=2.0, timeout=TIMEOUT_S)
_KUCOIN_VARS = ("KUCOIN_API_URL", "KUCOIN_API_KEY", "KUCOIN_API_SECRET", "KUCOIN_API_PASSPHRASE")
_MASTER_VARS = ("KUKEY_MASTER_KEY", "KUKEY_MASTER_KEY_FILE")
_SLACK_AUTH_FIX = ("set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-...) on the app's OAuth & "
                  "Permissions page; reinstall the app if the token was revoked")


@dataclass(frozen=True)
class Result:
    check: str
    status: str  # OK | WARN | FAIL
    detail: str
    fix: str = ""

    def lines(self) -> list[str]:
        out = [f"{self.status} {self.check}: {self.detail}"]
        return out + ([f"  fix: {self.fix}"] if self.fix and self.status != "OK" else [])


def ok(check: str, detail: str) -> Result:
    return Result(check, "OK", detail)


def fail(check: str, detail: str, fix: str) -> Result:
    return Result(check, "FAIL", detail, fix)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("doctor", help="check the configuration, Slack, KuCoin, clock, DB, policy")
    parser.add_argument("--http", action="store_true",
                        help="check for HTTP mode (a signing secret instead of an app-level token)")
    parser.set_defaults(func=doctor_command)


def doctor_command(args: argparse.Namespace) -> int:
    # Each failure is reported as a check line; without a handler, Python would also print the KuCoin
    # client's warnings to stderr. Records still reach any handler configured on the root logger.
    kucoin_log = logging.getLogger("bot.kucoin")
    if not any(isinstance(h, logging.NullHandler) for h in kucoin_log.handlers):
        kucoin_log.addHandler(logging.NullHandler())
    results = run_checks(os.environ, http_mode=args.http)
    for result in results:
        print("\n".join(result.lines()), flush=True)
    failed = sum(r.status == "FAIL" for r in results)
    print(f"kukey doctor: {len(results) - failed} of {len(results)} checks passed"
          + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


def run_checks(env: Mapping[str, str], *, http_mode: bool = False) -> list[Result]:
    checks: list[tuple[str, Callable[[], Result]]] = [
        ("settings", lambda: check_settings(env, http_mode=http_mode)),
        ("slack auth", lambda: check_slack(env)),
        ("kucoin key", lambda: check_kucoin_key(env)),
        ("clock", lambda: check_clock(env)),
        ("database", lambda: check_database(env)),
        ("policy", lambda: check_policy(env)),
        ("master key", lambda: check_master_key(env)),
    ]
    return [_guarded(name, check) for name, check in checks]


def _guarded(name: str, check: Callable[[], Result]) -> Result:
    """Run one check; a configuration problem or anything unexpected becomes its FAIL line."""
    try:
        return check()
    except ConfigError as exc:
        return fail(name, str(exc).replace("\n", "; "), "set the variable as described (see .env.example)")
    except Exception as exc:  # the doctor reports every failure as a line, never as a traceback
        return fail(name, f"unexpected {type(exc).__name__}: {exc}", "report this with the line above")


def _settings(env: Mapping[str, str], names: Iterable[str], need: Iterable[str] = ()) -> Settings:
    """Settings from only the variables one check needs, so each check reports only its own problems."""
    return Settings.from_env({n: env[n] for n in names if n in env}, need=need)


# --- the checks --------------------------------------------------------------------------------------

def check_settings(env: Mapping[str, str], *, http_mode: bool) -> Result:
    name = "settings"
    _settings(env, ("SLACK_APP_TOKEN", "KUKEY_METRICS_PORT", "KUKEY_LOG_LEVEL", "KUKEY_LEASE_SECONDS"))
    mode, needed = ("HTTP", "SLACK_SIGNING_SECRET") if http_mode else ("Socket Mode", "SLACK_APP_TOKEN")
    if not env.get(needed, "").strip():
        hint = ("the signing secret on the app's Basic Information page" if http_mode else
                "an app-level token (xapp-...) with connections:write (Basic Information > App-Level Tokens)")
        return fail(name, f"{needed} is not set ({mode} needs it)", f"set {needed} to {hint}")
    port = env.get("KUKEY_METRICS_PORT", "").strip()
    return ok(name, f"{mode}; metrics " + (f"on port {port}" if port else "off (KUKEY_METRICS_PORT unset)"))


def check_slack(env: Mapping[str, str]) -> Result:
    name = "slack auth"
    settings = _settings(env, ("SLACK_API_URL", "SLACK_BOT_TOKEN"))
    token = settings.slack_bot_token.reveal()
    if not token:
        return fail(name, "SLACK_BOT_TOKEN is not set", _SLACK_AUTH_FIX)
    url = settings.slack_api_url + "auth.test"
    try:
        with httpx.Client(timeout=TIMEOUT_S) as http:
            resp = http.post(url, headers={"Authorization": f"Bearer {token}"})
        data = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        return fail(name, f"no answer from {settings.slack_api_url} ({type(exc).__name__})",
                    "check SLACK_API_URL (default https://slack.com/api/), the network and any proxy")
    if not isinstance(data, dict) or not data.get("ok"):
        error = str(data.get("error", f"http_{resp.status_code}")) if isinstance(data, dict) else "bad answer"
        return fail(name, f"auth.test refused the bot token: {error}", _SLACK_AUTH_FIX)
    return ok(name, f"bot {data.get('user')} ({data.get('user_id')}) in workspace {data.get('team')} "
                    f"({data.get('team_id')})")


def _kucoin(settings: Settings) -> KucoinClient:
    """A client that gives up after a short retry: the doctor reports, it does not wait out an outage."""
    return KucoinClient(base_url=settings.kucoin_api_url, api_key=settings.kucoin_api_key,
                        api_secret=settings.kucoin_api_secret, api_passphrase=settings.kucoin_api_passphrase,
                        clock=SystemClock(), policy=_KUCOIN_RETRIES)


def check_kucoin_key(env: Mapping[str, str]) -> Result:
    name = "kucoin key"
    settings = _settings(env, _KUCOIN_VARS, need=[config.KUCOIN])
    try:
        with _kucoin(settings) as kucoin:
            info = kucoin.whoami()
    except KucoinAuthError as exc:
        return fail(name, str(exc), "check KUCOIN_API_KEY, KUCOIN_API_SECRET and KUCOIN_API_PASSPHRASE "
                                    "(and the key's IP whitelist) against the master account's API key")
    except KucoinUnavailable as exc:
        return fail(name, str(exc), f"check KUCOIN_API_URL ({settings.kucoin_api_url}) and the network")
    except KucoinError as exc:
        return fail(name, str(exc), "check the master account's API key on KuCoin")
    if not info.is_master:
        return fail(name, f"key {info.api_key} is a sub-account key, not the master account's",
                    "create an API key on the master account (with General) and set KUCOIN_API_* to it")
    if not info.has_general:
        return fail(name, f"master key {info.api_key} lacks the General permission "
                          f"(has {', '.join(sorted(info.permissions)) or 'none'})",
                    "edit the master API key on KuCoin and enable General (sub-account key management)")
    return ok(name, f"master key {info.api_key} (uid {info.uid}) with {', '.join(sorted(info.permissions))}")


def check_clock(env: Mapping[str, str]) -> Result:
    name = "clock"
    settings = _settings(env, ("KUCOIN_API_URL",))
    try:
        with _kucoin(settings) as kucoin:
            offset = kucoin.sync_clock()
    except KucoinError as exc:
        return fail(name, f"cannot read KuCoin's time: {exc}",
                    f"check KUCOIN_API_URL ({settings.kucoin_api_url}) and the network")
    detail = f"this host is {abs(offset) / 1000:.1f} s {'behind' if offset > 0 else 'ahead of'} KuCoin"
    fix = ("sync this host's clock with NTP (e.g. `timedatectl set-ntp true` or chrony): TOTP codes are "
           "checked against it")
    if abs(offset) > CLOCK_FAIL_MS:
        return fail(name, detail, fix)
    if abs(offset) > CLOCK_WARN_MS:
        return Result(name, "WARN", detail, fix)
    return ok(name, f"offset to KuCoin {offset} ms")


def check_database(env: Mapping[str, str]) -> Result:
    name = "database"
    settings = _settings(env, ("KUKEY_DATABASE_URL",))
    path = settings.database_url.removeprefix("sqlite:///")
    existed = Path(path).is_file()
    engine = make_engine(settings.database_url)
    try:
        init_db(engine)
        with engine.connect() as conn:
            transaction = conn.begin()
            try:
                conn.exec_driver_sql("CREATE TABLE kukey_doctor_probe (x INTEGER)")
                conn.exec_driver_sql("INSERT INTO kukey_doctor_probe (x) VALUES (1)")
            finally:
                transaction.rollback()
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        return fail(name, f"cannot write {path}: {reason}",
                    "make its directory writable by the user kukey runs as, or point KUKEY_DATABASE_URL "
                    "elsewhere (Docker: mount a volume on /data)")
    finally:
        engine.dispose()
    return ok(name, f"{path} is writable" + ("" if existed else " (created it, as `kukey run` would)"))


def check_policy(env: Mapping[str, str]) -> Result:
    name = "policy"
    settings = _settings(env, ("KUKEY_POLICY",), need=[config.POLICY])
    assert settings.policy_path is not None
    try:
        policy = load_policy(settings.policy_path)
    except PolicyErrors as exc:
        count = len(exc.problems)
        more = f" (and {count - 1} more)" if count > 1 else ""
        return fail(name, f"{exc.problems[0]}{more}",
                    f"run `kukey policy check {settings.policy_path}` and fix every problem it lists")
    rules = len(policy.rules)
    return ok(name, f"{policy.file}: {rules} rule{'s' if rules != 1 else ''}, "
                    f"approvals channel {policy.approvals_channel}")


def check_master_key(env: Mapping[str, str]) -> Result:
    name = "master key"
    master = _settings(env, _MASTER_VARS, need=[config.MASTER_KEY]).master_key_bytes()
    kid = key_id(master)
    url = _settings(env, ("KUKEY_DATABASE_URL",)).database_url
    if not Path(url.removeprefix("sqlite:///")).is_file():
        return ok(name, f"key id {kid} (no database yet)")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            problem = _master_key_problem(conn, kid, SecretBox(master))
    except SQLAlchemyError as exc:
        return fail(name, f"cannot read the database: {getattr(exc, 'orig', None) or exc}",
                    "run `kukey doctor` again once the database check passes")
    finally:
        engine.dispose()
    if problem:
        return fail(name, problem, "set KUKEY_MASTER_KEY (or KUKEY_MASTER_KEY_FILE) to the key this database "
                                   "was written with (after `kukey rekey`, the new one)")
    return ok(name, f"key id {kid} matches the audit log and decrypts the stored secrets")


def _master_key_problem(conn: Connection, kid: str, box: SecretBox) -> str | None:
    """Why this master key does not fit the database, or None when it does."""
    tables = {row[0] for row in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "audit_key" in tables and conn.exec_driver_sql(
            "SELECT 1 FROM audit_key WHERE key_id = ?", (kid,)).first():
        return f"key id {kid} was retired by `kukey rekey`"
    if "audit_event" in tables:
        last = conn.exec_driver_sql("SELECT key_id FROM audit_event ORDER BY seq DESC LIMIT 1").first()
        if last is not None and last[0] != kid:
            return f"the audit log was last signed by master key {last[0]}, but this key is {kid}"
    samples = []
    if "enrollment" in tables:
        samples += [(blob, f"totp:{user}") for user, blob in conn.exec_driver_sql(
            "SELECT user_id, seed_enc FROM enrollment LIMIT 1")]
    if "api_key" in tables:
        samples += [(blob, f"key:{api_key}") for api_key, blob in conn.exec_driver_sql(
            "SELECT api_key, passphrase_enc FROM api_key WHERE passphrase_enc IS NOT NULL LIMIT 1")]
    for blob, aad in samples:
        try:
            box.decrypt(bytes(blob), aad=aad)
        except CryptoError as exc:
            return f"a stored secret does not decrypt: {exc}"
    return None
