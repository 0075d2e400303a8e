"""RFC 5424 syslog messages for audit events, over TCP (RFC 6587 octet counting) or UDP.

One event, one message:

    <110>1 2026-01-31T09:00:01.000000+00:00 HOST kukey 4242 request.approval [kukey@32473 seq="12"
    action="request.approval" actor="U0BOB0001" request_id="KK-7F3Q9C2M" sub_account="alpha-trading"
    outcome="ok"] {"seq": 12, ...}

Facility 13 (log audit); severity 6 (informational) for an event whose outcome is "ok", 5 (notice) for a
refusal or failure. TIMESTAMP is the event's own `ts`; MSGID its action. The structured data element
`kukey@32473` (32473 is the example enterprise number RFC 5424 itself uses) carries seq, action, actor,
request_id, sub_account and outcome; MSG is the event as JSON, ASCII only (so MSG needs no BOM).

Written here, not taken from a library: the RFC 5424 packages on PyPI are logging handlers, which
swallow a failed send (logging must never raise), while the forwarder needs to know whether each
event went out. TCP counts an event delivered once the receiver's side of the connection accepted it;
before each send the connection is checked for a close from the receiver, so events sent after the
receiver went away are sent again on a new connection. Syslog has no acknowledgement beyond that, and
UDP none at all: a UDP event counts as delivered once sent (see docs/audit.md).
"""

from __future__ import annotations

import os
import re
import select
import socket

from bot.audit_stream.delivery import DeliveryError
from bot.audit_stream.reading import event_json
from bot.audit_stream.target import SYSLOG_TCP, Target
from bot.storage.audit_read import Event

FACILITY = 13  # log audit
INFORMATIONAL, NOTICE = 6, 5
SD_ID = "kukey@32473"
APP_NAME = "kukey"
_SD_FIELDS = ("seq", "action", "actor", "request_id", "sub_account", "outcome")
_NOT_PRINTABLE = re.compile(r"[^\x21-\x7e]")  # RFC 5424 PRINTUSASCII: the header's fields


def message(event: Event, *, hostname: str, procid: int) -> bytes:
    """The RFC 5424 message for `event` (without framing)."""
    pri = FACILITY * 8 + (INFORMATIONAL if event.outcome == "ok" else NOTICE)
    header = f"<{pri}>1 {event.ts} {_header_field(hostname, 255)} {APP_NAME} {procid} {_header_field(event.action, 32)}"
    params = "".join(f' {name}="{_param_value(str(value))}"' for name in _SD_FIELDS
                     if (value := getattr(event, name)) is not None)
    return f"{header} [{SD_ID}{params}] {event_json(event, ascii_only=True)}".encode()


def _header_field(text: str, limit: int) -> str:
    return _NOT_PRINTABLE.sub("_", text)[:limit] or "-"


def _param_value(text: str) -> str:
    """PARAM-VALUE escaping: a backslash before each '"', '\\' and ']'."""
    return re.sub(r'(["\\\]])', r"\\\1", text)


class SyslogSender:
    """Sends each event to the syslog receiver `target` names, connecting again after any failure."""

    def __init__(self, target: Target, *, timeout: float) -> None:
        self._target = target
        self._timeout = timeout
        self._socket: socket.socket | None = None
        self._hostname = socket.gethostname()
        self._pid = os.getpid()

    def send(self, event: Event) -> None:
        data = message(event, hostname=self._hostname, procid=self._pid)
        tcp = self._target.kind == SYSLOG_TCP
        if tcp:
            data = f"{len(data)} ".encode() + data  # RFC 6587 octet counting
        try:
            if self._socket is not None and tcp and _closed_by_peer(self._socket):
                self.close()
            if self._socket is None:
                self._socket = self._connect(tcp)
            self._socket.sendall(data)
        except TimeoutError:
            self.close()
            raise DeliveryError("timeout") from None
        except OSError as exc:
            self.close()
            raise DeliveryError(type(exc).__name__) from None

    def _connect(self, tcp: bool) -> socket.socket:
        address = (self._target.host, self._target.port)
        if tcp:
            return socket.create_connection(address, timeout=self._timeout)
        family, kind, proto, _, resolved = socket.getaddrinfo(*address, type=socket.SOCK_DGRAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.settimeout(self._timeout)
        sock.connect(resolved)  # connected: a "port unreachable" answer shows as an error on a later send
        return sock

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _closed_by_peer(sock: socket.socket) -> bool:
    """True when the receiver closed or reset the connection (a syslog receiver never writes to it, so a
    readable socket means a close, or data to ignore). Polled, not read: a socket with a timeout waits
    in recv() even when asked not to."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True
