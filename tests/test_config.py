"""Settings come from environment variables; every problem is named, one line each, never a traceback."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from bot import config
from bot.config import Settings
from bot.errors import ConfigError

KEY = base64.b64encode(b"k" * 32).decode()
GOOD = {
    "KUCOIN_API_KEY": "65a1f0c2d4e5f60718293a4b", "KUCOIN_API_SECRET": "s", "KUCOIN_API_PASSPHRASE": "p",
    "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SLACK_SIGNING_SECRET": "sig",
    "KUKEY_MASTER_KEY": KEY,
}
ALL = [config.KUCOIN, config.SLACK_SOCKET, config.MASTER_KEY]


def test_defaults_and_secrets_hidden() -> None:
    """A complete environment gives the documented defaults, and no secret shows in the repr."""
    s = Settings.from_env(GOOD, need=ALL)
    assert s.kucoin_api_url == "https://api.kucoin.com"
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.database_url == "sqlite:///kukey.db"
    assert s.master_key_bytes() == b"k" * 32
    assert "xoxb-1" not in repr(s) and KEY not in repr(s) and "sig" not in repr(s).replace("signing", "")


@pytest.mark.parametrize(("changes", "variable", "words"), [
    ({"KUCOIN_API_KEY": ""}, "KUCOIN_API_KEY", "is not set"),
    ({"KUCOIN_API_SECRET": ""}, "KUCOIN_API_SECRET", "is not set"),
    ({"KUCOIN_API_PASSPHRASE": ""}, "KUCOIN_API_PASSPHRASE", "is not set"),
    ({"KUCOIN_API_URL": "api.kucoin.com"}, "KUCOIN_API_URL", "not an http(s) URL"),
    ({"SLACK_API_URL": "ftp://x"}, "SLACK_API_URL", "not an http(s) URL"),
    ({"SLACK_BOT_TOKEN": "xoxp-1"}, "SLACK_BOT_TOKEN", "starts with xoxb-"),
    ({"SLACK_APP_TOKEN": ""}, "SLACK_APP_TOKEN", "is not set"),
    ({"SLACK_APP_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN", "starts with xapp-"),
    ({"KUKEY_DATABASE_URL": "postgres://x"}, "KUKEY_DATABASE_URL", "sqlite:///"),
    ({"KUKEY_DATABASE_URL": "mysql://kukey@db/kukey"}, "KUKEY_DATABASE_URL", "postgresql+psycopg://"),
    ({"KUKEY_DATABASE_URL": "postgresql://kukey@db"}, "KUKEY_DATABASE_URL", "names no PostgreSQL database"),
    ({"KUKEY_AUTO_MIGRATE": "yes"}, "KUKEY_AUTO_MIGRATE", "0 or 1"),
    ({"KUKEY_MASTER_KEY": ""}, "KUKEY_MASTER_KEY", "kukey keygen"),
    ({"KUKEY_MASTER_KEY": "not base64!"}, "KUKEY_MASTER_KEY", "not valid base64"),
    ({"KUKEY_MASTER_KEY": base64.b64encode(b"short").decode()}, "KUKEY_MASTER_KEY", "exactly 32 bytes"),
    ({"KUKEY_METRICS_PORT": "http"}, "KUKEY_METRICS_PORT", "port number"),
    ({"KUKEY_LOG_LEVEL": "LOUD"}, "KUKEY_LOG_LEVEL", "DEBUG, INFO"),
    ({"KUKEY_LEASE_SECONDS": "0"}, "KUKEY_LEASE_SECONDS", "1-3600"),
])
def test_each_problem_is_named(changes: dict[str, str], variable: str, words: str) -> None:
    """Each missing or malformed variable gets a message naming it and saying what is wrong."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**GOOD, **changes}, need=ALL)
    assert variable in str(caught.value) and words in str(caught.value)


@pytest.mark.parametrize("url", ["postgresql+psycopg://kukey:pw-s3cret@db.internal:5432/kukey",
                                 "postgresql://kukey:pw-s3cret@db.internal/kukey"])
def test_a_postgresql_url_is_taken_and_its_password_never_shown(url: str) -> None:
    """Both PostgreSQL forms are accepted as given; the password is not in the settings' repr, and a
    refused URL is quoted with *** in its place."""
    s = Settings.from_env({**GOOD, "KUKEY_DATABASE_URL": url, "KUKEY_AUTO_MIGRATE": "1"}, need=ALL)
    assert (s.database_url, s.auto_migrate) == (url, True)
    assert "pw-s3cret" not in repr(s)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**GOOD, "KUKEY_DATABASE_URL": url.replace("postgresql", "oracle", 1)}, need=ALL)
    assert "pw-s3cret" not in str(caught.value) and "kukey:***@db.internal" in str(caught.value)


def test_every_problem_at_once(tmp_path: Path) -> None:
    """Several problems are reported together, one line each."""
    env = {"KUCOIN_API_URL": "nope", "KUKEY_MASTER_KEY": "x", "KUKEY_MASTER_KEY_FILE": str(tmp_path / "k")}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, need=[config.KUCOIN, config.SLACK_HTTP, config.MASTER_KEY, config.POLICY])
    lines = str(caught.value).splitlines()
    for name in ("KUCOIN_API_URL", "KUCOIN_API_KEY", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "KUKEY_POLICY",
                 "KUKEY_MASTER_KEY_FILE"):
        assert sum(line.startswith(name) or f" {name} " in line for line in lines) >= 1, (name, lines)


def test_master_key_from_file(tmp_path: Path) -> None:
    """KUKEY_MASTER_KEY_FILE is read; an unreadable file is named."""
    path = tmp_path / "master.key"
    path.write_text(KEY + "\n")
    s = Settings.from_env({**GOOD, "KUKEY_MASTER_KEY": "", "KUKEY_MASTER_KEY_FILE": str(path)}, need=ALL)
    assert s.master_key_bytes() == b"k" * 32
    with pytest.raises(ConfigError, match="KUKEY_MASTER_KEY_FILE points to"):
        Settings.from_env({**GOOD, "KUKEY_MASTER_KEY": "", "KUKEY_MASTER_KEY_FILE": str(tmp_path / "no")},
                          need=ALL)


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    """The .env file KUKEY_ENV_FILE names supplies what the environment lacks; the environment wins over it."""
    lines = [f"{k}={v}" for k, v in GOOD.items()] + ["KUKEY_LOG_LEVEL=DEBUG", "KUKEY_LEASE_SECONDS=30"]
    env_file = _write(tmp_path / ".env", "\n".join(lines) + "\n")
    s = Settings.from_env({"KUKEY_ENV_FILE": env_file, "KUKEY_LOG_LEVEL": "ERROR"}, need=ALL)
    assert s.slack_bot_token.reveal() == "xoxb-1" and s.master_key_bytes() == b"k" * 32
    assert s.log_level == "ERROR" and s.lease_seconds == 30


def test_dotenv_in_the_working_directory_is_read_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no explicit environment, ./.env is read (the README's `fill in .env, then kukey doctor`)."""
    _write(tmp_path / ".env", "\n".join(f"{k}={v}" for k, v in GOOD.items()) + "\n")
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env(need=ALL)
    assert s.kucoin_api_key == GOOD["KUCOIN_API_KEY"] and s.slack_app_token.reveal() == "xapp-1"


def test_empty_values_mean_unset_everywhere(tmp_path: Path) -> None:
    """An empty value in the environment does not hide the .env value, nor replace a default."""
    env_file = _write(tmp_path / "e", "\n".join(f"{k}={v}" for k, v in GOOD.items()) + "\n")
    s = Settings.from_env({"KUKEY_ENV_FILE": env_file, "SLACK_BOT_TOKEN": "", "KUKEY_METRICS_PORT": "",
                           "KUKEY_POLICY": ""}, need=ALL)
    assert s.slack_bot_token.reveal() == "xoxb-1"
    assert s.metrics_port is None and str(s.policy_path) == "policy.toml"


@pytest.mark.parametrize("name", config.SECRET_VARIABLES)
def test_every_secret_has_a_file_variant(name: str, tmp_path: Path) -> None:
    """NAME_FILE supplies each secret (Docker/Kubernetes secrets), trailing newline stripped."""
    value = {"KUKEY_DATABASE_URL": "sqlite:///x.db", "KUKEY_AUDIT_FORWARD": "https://siem.example/in",
             "KUKEY_AUDIT_FORWARD_SECRET": "s" * 16}.get(name, GOOD.get(name, "v"))
    env = {k: v for k, v in GOOD.items() if k != name}
    if name == "KUKEY_AUDIT_FORWARD_SECRET":  # it signs webhook requests: only with a webhook target
        env["KUKEY_AUDIT_FORWARD"] = "https://siem.example/in"
    env[f"{name}_FILE"] = _write(tmp_path / "secret", value + "\n")
    s = Settings.from_env(env, need=ALL)
    attribute = name.lower().removeprefix("kukey_")
    got = getattr(s, attribute)
    assert (got.reveal() if hasattr(got, "reveal") else got) == value


def test_file_variant_problems_are_named(tmp_path: Path) -> None:
    """NAME and NAME_FILE both set, or a NAME_FILE that cannot be read or is empty, is named on its own line."""
    empty = _write(tmp_path / "empty", "\n")
    env = {**GOOD, "SLACK_BOT_TOKEN_FILE": str(tmp_path / "absent"), "KUCOIN_API_SECRET_FILE": empty,
           "KUCOIN_API_SECRET": "", "SLACK_APP_TOKEN_FILE": empty}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, need=ALL)
    lines = str(caught.value).splitlines()
    assert any(line.startswith("SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE are both set") for line in lines), lines
    assert any(line.startswith("KUCOIN_API_SECRET_FILE points to") and "empty" in line for line in lines), lines
    assert any(line.startswith("SLACK_APP_TOKEN and SLACK_APP_TOKEN_FILE") for line in lines), lines


def test_a_missing_env_file_is_named() -> None:
    """KUKEY_ENV_FILE naming a file that does not exist is a configuration problem, not silence."""
    with pytest.raises(ConfigError, match="KUKEY_ENV_FILE points to"):
        Settings.from_env({**GOOD, "KUKEY_ENV_FILE": "/nonexistent/.env"}, need=ALL)


def test_master_key_file_with_bad_content_names_the_file_variable(tmp_path: Path) -> None:
    """A master key file holding garbage names KUKEY_MASTER_KEY_FILE, not KUKEY_MASTER_KEY."""
    env = {**GOOD, "KUKEY_MASTER_KEY": "", "KUKEY_MASTER_KEY_FILE": _write(tmp_path / "k", "garbage!")}
    with pytest.raises(ConfigError, match=r"^KUKEY_MASTER_KEY_FILE is not valid base64"):
        Settings.from_env(env, need=ALL)
