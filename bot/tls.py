"""The HTTP clients kukey makes (KuCoin, response_url posts, the preflight, the audit webhook, and slack_sdk's
WebClients for the Web API), sharing ONE TLS context.

An `httpx.Client()` left to itself builds its own `ssl.SSLContext` and loads the whole CA bundle into it:
about 0.8 MB of the process's memory for good (3 MB for the first, with OpenSSL's own set-up) and 25 to 90 ms
of start-up per client. kukey makes four or five of them, so every client gets the same context,
made once by `httpx.create_ssl_context()`: exactly what httpx would make for each (certifi's bundle, or
SSL_CERT_FILE / SSL_CERT_DIR when set), with certificate and host name verification on. An SSLContext
may be shared by any number of connections and threads; each connection still checks its own host.

No client here speaks HTTP/2: httpcore sets the context's ALPN to "http/1.1" for its connections, and
slack_sdk's urllib connections (HTTP/1.1 only) share that setting; an `http2=True` client would offer "h2"
on theirs too.

A copy of the context is the context itself: Bolt deep-copies every request it hands to a lazy listener, the
WebClient in it included, and an SSLContext cannot be copied (nor should it be: it is made to be shared).

slack_sdk's WebClient reaches the context through urllib's process-wide opener (bot.slack.connections, which
also keeps its connections to Slack alive), not its `ssl` argument: urllib builds a whole opener for each call
that brings a context of its own. A Socket Mode link's WebClient is the exception (bot.slack.socket_link):
slack_sdk wraps the link's WebSocket in its `ssl`.
"""

from __future__ import annotations

import ssl
from functools import cache
from typing import Any

import httpx


class _Shared(ssl.SSLContext):
    """An SSLContext that copy and deepcopy return as it is."""

    def __copy__(self) -> _Shared:
        return self

    def __deepcopy__(self, _memo: dict[int, Any]) -> _Shared:
        return self


@cache
def shared_context() -> ssl.SSLContext:
    """The process's TLS context for outgoing HTTPS, made on first use."""
    context = httpx.create_ssl_context()
    context.__class__ = _Shared  # what httpx made, as it made it; only copying it changes
    return context


def certificate_refused(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind `exc`, if that is what it is (httpx wraps httpcore's error,
    which wraps ssl's; urllib's URLError holds it as its reason): a server this host does not trust, which no
    retry changes."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
        seen.add(id(cause))
        reason = getattr(cause, "reason", None)
        cause = reason if isinstance(reason, BaseException) else cause.__cause__ or cause.__context__
    return None



def http_client(**options: Any) -> httpx.Client:
    """An `httpx.Client(**options)` verifying servers with the shared TLS context."""
    return httpx.Client(verify=shared_context(), **options)
