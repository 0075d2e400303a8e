"""An HTTPS POST of each audit event, as the JSON line `kukey audit export --format jsonl` prints for it.

Headers: `Content-Type: application/json`, `X-Kukey-Seq: N` (the event's seq, also in the body: a receiver
de-duplicates by it), and with KUKEY_AUDIT_FORWARD_SECRET set, `X-Kukey-Signature: sha256=HEX`: hex
HMAC-SHA256 of the body's bytes under the secret, so the receiver can check the event came from kukey.
Any 2xx answer acknowledges the event; anything else (a redirect too: a signed body is not re-sent to
another address) is a failure, retried.
"""

from __future__ import annotations

import hashlib
import hmac

import httpx

from bot import __version__
from bot.audit_stream.delivery import DeliveryError
from bot.audit_stream.reading import event_json
from bot.domain.secret import Secret
from bot.storage.audit_read import Event

SIGNATURE_HEADER = "X-Kukey-Signature"
SEQ_HEADER = "X-Kukey-Seq"


def signature(secret: bytes, body: bytes) -> str:
    """The X-Kukey-Signature value for `body`: "sha256=" and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookSender:
    """POSTs each event to `url` with the `http` client (its timeout bounds a hanging receiver)."""

    def __init__(self, url: str, *, secret: Secret, http: httpx.Client) -> None:
        self._url = url
        self._secret = secret.reveal().encode()
        self._http = http

    def send(self, event: Event) -> None:
        body = event_json(event).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": f"kukey/{__version__}",
                   SEQ_HEADER: str(event.seq)}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        try:
            answer = self._http.post(self._url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryError("timeout") from None
        except httpx.HTTPError as exc:  # the URL may hold a credential: only the error's kind is kept
            raise DeliveryError(type(exc).__name__) from None
        if not answer.is_success:
            raise DeliveryError(f"http_{answer.status_code}")

    def close(self) -> None:
        self._http.close()
