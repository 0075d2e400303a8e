"""Settings from environment variables, validated once, with secrets kept out of every repr.

The variable names are part of kukey's public interface. `Settings.from_env(env, need=...)` collects
every problem and raises one ConfigError whose message has one line per problem, each naming its variable.
Values come from the process environment, `*_FILE` variants of every secret, and an optional `.env`
file, in the precedence bot.environment documents; an empty value means unset.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bot.audit_stream import target as forward_target
from bot.domain.jobs import DEFAULT_LEASE_SECONDS
from bot.domain.secret import Secret
from bot.environment import Environment
from bot.errors import ConfigError
from bot.storage import urls as database_urls

DEFAULT_KUCOIN_URL = "https://api.kucoin.com"
DEFAULT_SLACK_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///kukey.db"
DEFAULT_POLICY = "policy.toml"  # relative to the working directory (the Docker image sets its own path)
# Settings that may come from a file named by NAME_FILE (Docker and Kubernetes secrets).
SECRET_VARIABLES = ("KUCOIN_API_KEY", "KUCOIN_API_SECRET", "KUCOIN_API_PASSPHRASE", "SLACK_BOT_TOKEN",
                    "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "KUKEY_DATABASE_URL", "KUKEY_MASTER_KEY",
                    "KUKEY_AUDIT_FORWARD", "KUKEY_AUDIT_FORWARD_SECRET")
MIN_FORWARD_SECRET = 16  # characters of KUKEY_AUDIT_FORWARD_SECRET: an HMAC key shorter than this is guessable

# Groups of settings a command can require.
KUCOIN = "kucoin"
SLACK_SOCKET = "slack_socket"
SLACK_HTTP = "slack_http"
SLACK_API = "slack_api"  # Web API calls only (bot token), no inbound transport
MASTER_KEY = "master_key"
POLICY = "policy"


@dataclass(frozen=True)
class Settings:
    kucoin_api_url: str = DEFAULT_KUCOIN_URL
    kucoin_api_key: str = ""
    kucoin_api_secret: Secret = field(default_factory=lambda: Secret(""))
    kucoin_api_passphrase: Secret = field(default_factory=lambda: Secret(""))
    slack_api_url: str = DEFAULT_SLACK_URL
    slack_bot_token: Secret = field(default_factory=lambda: Secret(""))
    slack_app_token: Secret = field(default_factory=lambda: Secret(""))
    slack_signing_secret: Secret = field(default_factory=lambda: Secret(""))
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)  # may hold a password: show masked
    auto_migrate: bool = False  # KUKEY_AUTO_MIGRATE=1: upgrade an out-of-date schema at start
    policy_path: Path | None = None
    master_key: Secret | None = None  # base64 text of 32 bytes; use master_key_bytes()
    metrics_port: int | None = None
    log_level: str = "INFO"
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    audit_forward: str = field(default="", repr=False)  # may hold a credential: show forward_target.parse().shown
    audit_forward_secret: Secret = field(default_factory=lambda: Secret(""))

    def master_key_bytes(self) -> bytes:
        if self.master_key is None:
            raise ConfigError("KUKEY_MASTER_KEY is not set", variable="KUKEY_MASTER_KEY")
        return base64.b64decode(self.master_key.reveal())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, need: Iterable[str] = ()) -> Settings:
        """Read and validate; `env` None means the process environment and ./.env (bot.environment)."""
        read = _Reader(Environment.load(env), set(need))
        fields = {**_kucoin(read), **_slack(read), **_storage(read), **_operations(read)}
        if read.problems:
            first = read.problems[0].split(" ", 1)[0]
            raise ConfigError("\n".join(read.problems), variable=first)
        return cls(**fields)


class _Reader:
    """Reads variables from an Environment, collecting every problem (one line each) instead of raising."""

    def __init__(self, source: Environment, need: set[str]) -> None:
        self.source, self.need = source, need
        self.problems: list[str] = source.problems

    def get(self, name: str) -> str:
        return self.source.secret(name) if name in SECRET_VARIABLES else self.source.get(name)

    def required(self, name: str, group: str, hint: str) -> str:
        value = self.get(name)
        if not value and group in self.need:
            self.problems.append(f"{name} is not set: {hint} (or {name}_FILE)")
        return value

    def http_url(self, name: str, default: str) -> str:
        value = self.get(name) or default
        if not _is_http_url(value):
            self.problems.append(f"{name} is not an http(s) URL: {value!r}")
        return value

    def token(self, name: str, group: str, hint: str, *, prefix: str, kind: str) -> str:
        value = self.required(name, group, hint)
        if value and not value.startswith(prefix):
            self.problems.append(f"{name} does not look like {kind} (it starts with {prefix})")
        return value

    def integer(self, name: str, default: int | None, low: int, high: int, what: str) -> int | None:
        text = self.get(name)
        if not text:
            return default
        if text.isdigit() and low <= int(text) <= high:
            return int(text)
        self.problems.append(f"{name} must be {what}, got {text!r}")
        return default


def _kucoin(read: _Reader) -> dict[str, Any]:
    return {
        "kucoin_api_url": read.http_url("KUCOIN_API_URL", DEFAULT_KUCOIN_URL).rstrip("/"),
        "kucoin_api_key": read.required("KUCOIN_API_KEY", KUCOIN, "the master account's API key"),
        "kucoin_api_secret": Secret(read.required("KUCOIN_API_SECRET", KUCOIN, "the master account's API secret")),
        "kucoin_api_passphrase": Secret(read.required("KUCOIN_API_PASSPHRASE", KUCOIN,
                                                      "the master account's API passphrase")),
    }


def _slack(read: _Reader) -> dict[str, Any]:
    slack_url = read.http_url("SLACK_API_URL", DEFAULT_SLACK_URL)
    group = next((g for g in (SLACK_SOCKET, SLACK_HTTP, SLACK_API) if g in read.need), SLACK_API)
    return {
        "slack_api_url": slack_url if slack_url.endswith("/") else slack_url + "/",
        "slack_bot_token": Secret(read.token("SLACK_BOT_TOKEN", group, "the bot token (xoxb-...) from the app's "
                                             "OAuth page", prefix="xoxb-", kind="a bot token")),
        "slack_app_token": Secret(read.token("SLACK_APP_TOKEN", SLACK_SOCKET, "an app-level token (xapp-...) with "
                                             "connections:write", prefix="xapp-", kind="an app-level token")),
        "slack_signing_secret": Secret(read.required("SLACK_SIGNING_SECRET", SLACK_HTTP,
                                                     "the app's signing secret (Basic Information page)")),
    }


def _storage(read: _Reader) -> dict[str, Any]:
    database_url = read.get("KUKEY_DATABASE_URL") or DEFAULT_DATABASE_URL
    if url_problem := database_urls.problem(database_url):
        read.problems.append(url_problem)
    auto_migrate = read.get("KUKEY_AUTO_MIGRATE") or "0"
    if auto_migrate not in {"0", "1"}:
        read.problems.append(f"KUKEY_AUTO_MIGRATE must be 0 or 1, got {auto_migrate!r}")
    master = _master_key(read.get("KUKEY_MASTER_KEY"), read.source.source_name("KUKEY_MASTER_KEY"),
                         read.problems, required=MASTER_KEY in read.need)
    return {"database_url": database_url, "auto_migrate": auto_migrate == "1", "master_key": master}


def _operations(read: _Reader) -> dict[str, Any]:
    policy_text = read.get("KUKEY_POLICY") or DEFAULT_POLICY
    if POLICY in read.need and not Path(policy_text).is_file():
        read.problems.append(f"KUKEY_POLICY points to {policy_text!r}, which is not a readable file"
                             + ("" if read.get("KUKEY_POLICY") else " (the default; set KUKEY_POLICY)"))
    metrics_port = read.integer("KUKEY_METRICS_PORT", None, 0, 65535, "a port number 0-65535")
    log_level = (read.get("KUKEY_LOG_LEVEL") or "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        read.problems.append(f"KUKEY_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
    lease_seconds = read.integer("KUKEY_LEASE_SECONDS", DEFAULT_LEASE_SECONDS, 1, 3600, "1-3600 seconds")
    forward, forward_secret = read.get("KUKEY_AUDIT_FORWARD"), read.get("KUKEY_AUDIT_FORWARD_SECRET")
    read.problems.extend(_forward_problems(forward, forward_secret))
    return {"policy_path": Path(policy_text), "metrics_port": metrics_port, "log_level": log_level,
            "lease_seconds": lease_seconds, "audit_forward": forward, "audit_forward_secret": Secret(forward_secret)}


def _is_http_url(text: str) -> bool:
    parsed = urlparse(text)
    return parsed.scheme in {"http", "https"} and bool(parsed.netloc)


def _forward_problems(forward: str, secret: str) -> list[str]:
    """KUKEY_AUDIT_FORWARD's and KUKEY_AUDIT_FORWARD_SECRET's problems, one line each."""
    found = [why] if forward and (why := forward_target.problem(forward)) else []
    if secret and not forward:
        found.append("KUKEY_AUDIT_FORWARD_SECRET is set but KUKEY_AUDIT_FORWARD is not: set both, or neither")
    elif secret and not found and forward_target.parse(forward).kind != forward_target.WEBHOOK:
        found.append("KUKEY_AUDIT_FORWARD_SECRET signs webhook requests; a syslog target cannot carry it: unset it")
    elif secret and len(secret) < MIN_FORWARD_SECRET:
        found.append(f"KUKEY_AUDIT_FORWARD_SECRET must be at least {MIN_FORWARD_SECRET} characters, got {len(secret)}")
    return found


def _master_key(inline: str, name: str, problems: list[str], *, required: bool) -> Secret | None:
    if not inline:
        if required:
            problems.append("KUKEY_MASTER_KEY is not set: run `kukey keygen` and set it (or KUKEY_MASTER_KEY_FILE)")
        return None
    try:
        raw = base64.b64decode(inline, validate=True)
    except (binascii.Error, ValueError):
        problems.append(f"{name} is not valid base64 (run `kukey keygen` for a new one)")
        return None
    if len(raw) != 32:
        problems.append(f"{name} must be base64 of exactly 32 bytes, got {len(raw)} bytes")
        return None
    return Secret(inline)
