"""Kept-alive connections to Slack's Web API, for every slack_sdk WebClient in the process.

slack_sdk's WebClient sends each call with urllib, which opens a new TCP connection for it (against Slack a new
TLS handshake too) and closes it after the answer: two more round trips to Slack and a few ms of CPU on both
ends before each call's bytes leave, a dozen times in a request's lifecycle. Bolt also makes a WebClient of its
own for every request it dispatches (its listeners' `client`), so a subclass of WebClient would not reach the
calls those make. What every WebClient without `ssl` of its own uses is urllib's process-wide opener
(`urlopen`), so `keep_alive(url)` installs one whose HTTP(S) handler sends calls to the registered Slack
origins through one connection pool that keeps their connections alive (httpcore's, the transport under
kukey's httpx clients), and anything else as urllib does; both verify HTTPS with the process's TLS context
(bot.tls). Measured against the fake on one machine (tests' loopback): over HTTPS 0.9 against 2.9 ms per
call; over plain HTTP 0.75 against 0.95 ms, the same CPU in kukey's thread (0.51 against 0.50 ms). Through
httpx's client rather than its transport it cost 0.70 ms of CPU: slack_sdk has built the request already.

The handler answers urllib's way, so slack_sdk's retry handlers and kukey's error handling see what they saw
with urllib's own: a response with `code`, `msg` and `headers`, an HTTP error raised by urllib's own processor
from it, a connection that could not be made (or sent on) as URLError, one closed without an answer as
RemoteDisconnected, a reset while reading as ConnectionResetError, and a read that timed out as TimeoutError.
A connection the server closed while it sat idle is seen before it is used again (httpcore checks whether the
socket became readable) and a new one is made.

Why an opener of our own rather than a library: slack_sdk's WebClient has no pluggable transport (its async
client takes an aiohttp session; kukey is synchronous) and urllib's opener is the seam urllib gives; the pool
behind it is httpcore's. Through a proxy (HTTPS_PROXY: slack_sdk then builds an opener of its own for every
call) nothing here is used.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import urllib.error
import urllib.request
import urllib.response
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpcore

from bot.tls import shared_context

KEEP_S = 30.0  # seconds an idle connection is kept: under common load balancers' idle timeouts (60 s and up)
KEPT = None  # every connection made is kept (until idle KEEP_S): httpcore may close a surplus idle one that it has
# just handed to a waiting call, which then fails or hangs until its timeout (encode/httpcore#1110, open); at most
# as many as Slack calls ever ran at once
_TIMEOUTS = ("connect", "read", "write", "pool")  # httpcore's: each gets the call's timeout, as urllib's socket
# TCP keepalive on a kept connection: a probe after 10 s idle, every 5 s: a NAT or firewall on the way keeps its
# state for it, and a connection dropped on the way silently is closed by the kernel once 25 s idle, so the pool
# (which checks a connection before using it again) makes a new one instead of waiting out a call's timeout.
KEEPALIVE_PROBES = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)] + [
    (socket.IPPROTO_TCP, getattr(socket, name), value)
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)) if hasattr(socket, name)]
DEFAULT_TIMEOUT_S = 30.0  # a call that set none (slack_sdk always does: bot.slack.client.TIMEOUT_S)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class KeptAliveHandler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """urllib's HTTP and HTTPS handler: the registered origins' calls over kept-alive connections, the rest as
    urllib does (HTTPS verified with the shared context, looked up for each connection: the tests make it anew
    when they change the trusted CAs, and the pool is then made anew too)."""

    def __init__(self) -> None:
        urllib.request.HTTPHandler.__init__(self)
        urllib.request.HTTPSHandler.__init__(self)
        self._origins: set[str] = set()
        self._lock = threading.Lock()
        self._connections: httpcore.ConnectionPool | None = None
        self._context: object = None  # the TLS context the pool verifies with

    def keep(self, url: str) -> None:
        with self._lock:
            self._origins.add(_origin(url))

    def kept(self, url: str) -> bool:
        with self._lock:
            return _origin(url) in self._origins

    def http_open(self, req: urllib.request.Request) -> Any:
        if self._pooled(req):
            return self._send(req)
        return self.do_open(http.client.HTTPConnection, req)

    def https_open(self, req: urllib.request.Request) -> Any:
        if self._pooled(req):
            return self._send(req)
        return self.do_open(http.client.HTTPSConnection, req, context=shared_context())

    def _pooled(self, req: urllib.request.Request) -> bool:
        return not req.has_proxy() and self.kept(req.full_url)

    def _pool(self) -> httpcore.ConnectionPool:
        with self._lock:
            context = shared_context()  # under the lock: threads starting at once see one context and one pool
            if self._connections is None or self._context is not context:
                # A context made anew (the tests change the trusted CAs): a new pool verifying with it. The old one
                # is left to the calls still on it (closing it would cut them); its sockets close when collected.
                self._context = context
                self._connections = httpcore.ConnectionPool(ssl_context=context, max_connections=None,
                                                            max_keepalive_connections=KEPT, keepalive_expiry=KEEP_S,
                                                            socket_options=KEEPALIVE_PROBES)
            return self._connections

    def _send(self, req: urllib.request.Request) -> urllib.response.addinfourl:
        timeout = req.timeout if isinstance(req.timeout, int | float) else DEFAULT_TIMEOUT_S
        try:
            answer = self._pool().request(req.get_method(), req.full_url, headers=req.header_items(),
                                          content=req.data,  # type: ignore[arg-type]
                                          extensions={"timeout": dict.fromkeys(_TIMEOUTS, timeout)})
        except httpcore.ReadTimeout as exc:  # urllib: the socket's timeout, raised as it is
            raise TimeoutError("timed out") from exc
        except httpcore.RemoteProtocolError as exc:  # closed without an answer (or a garbled one)
            raise http.client.RemoteDisconnected(str(exc) or "Remote end closed connection without response") from exc
        except httpcore.ReadError as exc:
            raise ConnectionResetError(str(exc)) from exc
        except (httpcore.ConnectError, httpcore.ConnectTimeout, httpcore.WriteError, httpcore.WriteTimeout,
                httpcore.PoolTimeout, httpcore.UnsupportedProtocol, httpcore.LocalProtocolError) as exc:
            raise urllib.error.URLError(exc) from exc  # not connected, or the request not sent: urllib's URLError
        headers = http.client.HTTPMessage()
        for name, value in answer.headers:  # as sent (slack_sdk copies them into a dict: case counts)
            headers[name.decode("latin-1")] = value.decode("latin-1")
        response = urllib.response.addinfourl(io.BytesIO(answer.content), headers, req.full_url, answer.status)
        response.msg = answer.extensions.get("reason_phrase", b"").decode("latin-1")  # type: ignore[attr-defined]
        return response


@cache
def _handler() -> KeptAliveHandler:
    """The handler of urllib's process-wide opener, installed on first use."""
    handler = KeptAliveHandler()
    urllib.request.install_opener(urllib.request.build_opener(handler))
    return handler


def keep_alive(url: str) -> None:
    """Make every WebClient's calls to `url`'s origin (Slack's Web API) go over kept-alive connections, and
    urllib's other HTTPS calls verify with the shared TLS context."""
    _handler().keep(url)
