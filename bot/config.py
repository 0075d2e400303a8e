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
        source = Environment.load(env)
        need = set(need)
        problems: list[str] = source.problems

        def get(name: str) -> str:
            return source.secret(name) if name in SECRET_VARIABLES else source.get(name)

        def required(name: str, group: str, hint: str) -> str:
            value = get(name)
            if not value and group in need:
                problems.append(f"{name} is not set: {hint} (or {name}_FILE)")
            return value

        kucoin_url = get("KUCOIN_API_URL") or DEFAULT_KUCOIN_URL
        if not _is_http_url(kucoin_url):
            problems.append(f"KUCOIN_API_URL is not an http(s) URL: {kucoin_url!r}")
        slack_url = get("SLACK_API_URL") or DEFAULT_SLACK_URL
        if not _is_http_url(slack_url):
            problems.append(f"SLACK_API_URL is not an http(s) URL: {slack_url!r}")
        if not slack_url.endswith("/"):
            slack_url += "/"

        key = required("KUCOIN_API_KEY", KUCOIN, "the master account's API key")
        secret = required("KUCOIN_API_SECRET", KUCOIN, "the master account's API secret")
        passphrase = required("KUCOIN_API_PASSPHRASE", KUCOIN, "the master account's API passphrase")

        slack_group = next((g for g in (SLACK_SOCKET, SLACK_HTTP, SLACK_API) if g in need), SLACK_API)
        bot_token = required("SLACK_BOT_TOKEN", slack_group, "the bot token (xoxb-...) from the app's OAuth page")
        if bot_token and not bot_token.startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN does not look like a bot token (it starts with xoxb-)")
        app_token = required("SLACK_APP_TOKEN", SLACK_SOCKET, "an app-level token (xapp-...) with connections:write")
        if app_token and not app_token.startswith("xapp-"):
            problems.append("SLACK_APP_TOKEN does not look like an app-level token (it starts with xapp-)")
        signing = required("SLACK_SIGNING_SECRET", SLACK_HTTP, "the app's signing secret (Basic Information page)")

        database_url = get("KUKEY_DATABASE_URL") or DEFAULT_DATABASE_URL
        url_problem = database_urls.problem(database_url)
        if url_problem:
            problems.append(url_problem)
        auto_migrate = get("KUKEY_AUTO_MIGRATE") or "0"
        if auto_migrate not in {"0", "1"}:
            problems.append(f"KUKEY_AUTO_MIGRATE must be 0 or 1, got {auto_migrate!r}")

        policy_text = get("KUKEY_POLICY") or DEFAULT_POLICY
        policy_path = Path(policy_text)
        if POLICY in need and not policy_path.is_file():
            problems.append(f"KUKEY_POLICY points to {policy_text!r}, which is not a readable file"
                            + ("" if get("KUKEY_POLICY") else " (the default; set KUKEY_POLICY)"))

        master = _master_key(get("KUKEY_MASTER_KEY"), source.source_name("KUKEY_MASTER_KEY"), problems,
                             required=MASTER_KEY in need)

        metrics_port: int | None = None
        port_text = get("KUKEY_METRICS_PORT")
        if port_text:
            if port_text.isdigit() and 0 <= int(port_text) <= 65535:
                metrics_port = int(port_text)
            else:
                problems.append(f"KUKEY_METRICS_PORT must be a port number 0-65535, got {port_text!r}")
        log_level = (get("KUKEY_LOG_LEVEL") or "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            problems.append(f"KUKEY_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")

        lease_text = get("KUKEY_LEASE_SECONDS")
        lease_seconds = DEFAULT_LEASE_SECONDS
        if lease_text:
            if lease_text.isdigit() and 1 <= int(lease_text) <= 3600:
                lease_seconds = int(lease_text)
            else:
                problems.append(f"KUKEY_LEASE_SECONDS must be 1-3600 seconds, got {lease_text!r}")

        forward = get("KUKEY_AUDIT_FORWARD")
        forward_secret = get("KUKEY_AUDIT_FORWARD_SECRET")
        problems += _forward_problems(forward, forward_secret)

        if problems:
            first = problems[0].split(" ", 1)[0]
            raise ConfigError("\n".join(problems), variable=first)
        return cls(
            kucoin_api_url=kucoin_url.rstrip("/"),
            kucoin_api_key=key,
            kucoin_api_secret=Secret(secret),
            kucoin_api_passphrase=Secret(passphrase),
            slack_api_url=slack_url,
            slack_bot_token=Secret(bot_token),
            slack_app_token=Secret(app_token),
            slack_signing_secret=Secret(signing),
            database_url=database_url,
            auto_migrate=auto_migrate == "1",
            policy_path=policy_path,
            master_key=master,
            metrics_port=metrics_port,
            log_level=log_level,
            lease_seconds=lease_seconds,
            audit_forward=forward,
            audit_forward_secret=Secret(forward_secret),
        )


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
