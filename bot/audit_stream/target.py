"""KUKEY_AUDIT_FORWARD: where `kukey run` ships the audit log, and the forms kukey takes.

    https://HOST[:PORT]/PATH          an HTTPS POST of each event (JSON); http:// only to a loopback address
    syslog+tcp://HOST[:PORT]          RFC 5424 over TCP, RFC 6587 octet-counted frames (port 514 by default)
    syslog+udp://HOST[:PORT]          RFC 5424 over UDP, one event per datagram (port 514 by default)

A webhook URL may carry a credential (userinfo, a token in the query or in the path, as some SIEMs' HTTP
collectors issue), so nothing but `Target.shown` (scheme, host and port) is ever shown, and the cursor's
key (`Target.key`) adds a digest of the whole URL instead of its path; `secret_parts` are what log lines
never show (bot.logs.redaction). Standard library only.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import SplitResult, urlsplit

VARIABLE = "KUKEY_AUDIT_FORWARD"
Kind = Literal["webhook", "syslog+tcp", "syslog+udp"]
WEBHOOK: Final[Kind] = "webhook"
SYSLOG_TCP: Final[Kind] = "syslog+tcp"
SYSLOG_UDP: Final[Kind] = "syslog+udp"
SYSLOG_PORT = 514
MIN_SECRET_PART = 8  # shorter paths ("/ingest") are common words in logs, and hold no credential
_FORMS = "https://HOST/PATH, syslog+tcp://HOST[:PORT] or syslog+udp://HOST[:PORT]"


@dataclass(frozen=True)
class Target:
    """A parsed KUKEY_AUDIT_FORWARD. `url` (the whole configured value) is kept out of the repr."""

    kind: Kind
    host: str
    port: int
    url: str = field(repr=False)
    shown: str  # scheme://host:port, fit for a log line or a metric

    @property
    def key(self) -> str:
        """The cursor's row key: what is shown, plus a digest telling two URLs on one host apart."""
        return f"{self.shown}#{hashlib.sha256(self.url.encode()).hexdigest()[:16]}"


def parse(text: str) -> Target:
    """The target `text` names; ValueError with one line naming KUKEY_AUDIT_FORWARD (credentials hidden)."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"{VARIABLE} must be {_FORMS}, got a value that is not a URL") from None
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if not scheme or "://" not in text:
        raise ValueError(f"{VARIABLE} must be {_FORMS}, got a value that is not a URL")
    shown = f"{scheme}://{_bracketed(host)}" + (f":{port}" if port else "")
    if scheme not in {"https", "http", SYSLOG_TCP, SYSLOG_UDP} or not host:
        raise ValueError(f"{VARIABLE} must be {_FORMS}, got {shown!r}")
    if scheme.startswith("syslog"):
        return _syslog(parts, scheme, host, port or SYSLOG_PORT, text.strip())
    if scheme == "http" and not _is_loopback(host):
        raise ValueError(f"{VARIABLE} must use https:// (http:// only to a loopback address), got {shown!r}")
    port = port or (443 if scheme == "https" else 80)
    return Target(WEBHOOK, host, port, url=text.strip(), shown=f"{scheme}://{_bracketed(host)}:{port}")


def secret_parts(text: str) -> list[str]:
    """What a log line must never show of KUKEY_AUDIT_FORWARD: the whole value, and the parts that survive
    an HTTP library rewriting the rest (host case, default port): path with query, and the password."""
    parts = urlsplit(text.strip())
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    found = [text.strip()] + ([tail] if len(tail) >= MIN_SECRET_PART else [])
    return found + ([parts.password] if parts.password else [])


def problem(text: str) -> str | None:
    """Why kukey cannot forward to `text`, as one line; None if it can."""
    try:
        parse(text)
    except ValueError as exc:
        return str(exc)
    return None


def _syslog(parts: SplitResult, scheme: str, host: str, port: int, url: str) -> Target:
    shown = f"{scheme}://{_bracketed(host)}:{port}"
    if parts.path not in {"", "/"} or parts.query or parts.username or parts.password:
        raise ValueError(f"{VARIABLE} names a syslog receiver by host and port only, got {shown!r} with more")
    kind: Kind = SYSLOG_TCP if scheme == SYSLOG_TCP else SYSLOG_UDP
    return Target(kind, host, port, url=url, shown=shown)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
