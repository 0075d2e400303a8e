"""Structured logs: one JSON object per line, scrubbed of secrets before any handler writes them.

`configure_logging()` installs a JSON handler on the root logger with a RedactionFilter. The filter
rewrites each record in place (message, every extra field, exception and stack text), so a handler that
runs after it sees the redacted record too. It removes:
  * values registered with `register_secret()` (master key, bot/app tokens, signing secret, KuCoin
    master secret and passphrase: whatever the process holds);
  * Slack tokens (xox?-..., xapp-...), otpauth:// URIs, UUIDs (KuCoin API secrets are UUIDs), base32
    TOTP seeds (16+ of [A-Z2-7]), 44-character base64 (KC-API-SIGN, signed passphrases, master keys),
    and `name=value` / `name: value` where the name says passphrase, secret, token, password,
    signature or seed (plus `code=` in query strings);
  * every extra field whose name says it holds a secret (bot.domain.secret.is_secret_name).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.domain.secret import Secret, is_secret_name

MASK = "**redacted**"
MIN_SECRET_LEN = 4  # shorter registered values would blank out ordinary words

_PATTERNS = (
    re.compile(r"\bxox[abprse]-[A-Za-z0-9-]+"),
    re.compile(r"\bxapp-[A-Za-z0-9-]+"),
    re.compile(r"otpauth://\S+", re.IGNORECASE),
    re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])"),
    re.compile(r"(?<![A-Za-z0-9])[A-Z2-7]{16,}=*(?![A-Za-z0-9])"),
)
# name=value, name: value, "name": "value", ?code=value: keep the name, drop the value.
_NAMED = re.compile(
    r"""(?ix)
    ( (?: \b\w*(?:passphrase|secret|token|password|signature|seed)\w* | \bsign | (?<=[?&])code )
      ["']? \s* [:=] \s* )
    (?: b?"[^"]*" | b?'[^']*' | [^\s"'&,;})\]]+ )
    """
)
_STANDARD = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}

_lock = threading.Lock()
_registered: set[str] = set()
_registered_re: re.Pattern[str] | None = None


def register_secret(value: str | Secret | bytes | None) -> None:
    """Redact this exact value wherever it appears from now on (values under 4 characters are ignored)."""
    global _registered_re
    if isinstance(value, Secret):
        value = value.reveal()
    elif isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not value or len(value) < MIN_SECRET_LEN:
        return
    with _lock:
        _registered.add(value)
        ordered = sorted(_registered, key=len, reverse=True)
        _registered_re = re.compile("|".join(re.escape(v) for v in ordered))


def redact(text: str) -> str:
    """`text` with every registered value and every secret-shaped string replaced by the mask."""
    registered = _registered_re
    if registered is not None:
        text = registered.sub(MASK, text)
    text = _NAMED.sub(lambda m: m.group(1) + MASK, text)
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    return text


def scrub(value: Any) -> Any:
    """A JSON-friendly copy of `value` with secrets masked (dict fields by name and by content)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): MASK if is_secret_name(str(k)) else scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    return redact(str(value))


class RedactionFilter(logging.Filter):
    """Scrubs a record in place; never drops it. Safe to run twice on the same record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break the caller
            message = f"{record.msg} (log arguments did not match the format)"
        record.msg, record.args = redact(str(message)), None
        for name, value in list(vars(record).items()):
            if name not in _STANDARD:
                setattr(record, name, MASK if is_secret_name(name) else scrub(value))
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# The request a thread is working on; every log line it writes carries it as `request_id`.
current_request: ContextVar[str | None] = ContextVar("kukey_request_id", default=None)


@contextmanager
def bound_request(request_id: str | None) -> Iterator[None]:
    """Within this block, log lines carry `request_id` (unless the call passes its own)."""
    token = current_request.set(request_id)
    try:
        yield
    finally:
        current_request.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the extra fields, exc/stack when present."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request.get()
        if request_id:
            out["request_id"] = request_id
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in out:
                out[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, default=str)


def install_redaction(handler: logging.Handler) -> None:
    """Add a RedactionFilter to `handler` unless it has one."""
    if not any(isinstance(f, RedactionFilter) for f in handler.filters):
        handler.addFilter(RedactionFilter())


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Send every log record to `stream` (default stderr) as JSON lines, redacted. Idempotent: replaces
    the handler a previous call installed, and adds redaction to the root's other handlers."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "kukey_json", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.kukey_json = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    for existing in root.handlers:
        install_redaction(existing)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
