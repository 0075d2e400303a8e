"""The exception tree. Every expected failure is one of these; the Slack layer maps them to sentences.

    KukeyError
    ├── ConfigError              a setting is missing or malformed (names the variable)
    ├── UsageError               a /kukey or CLI command could not be parsed (message + the right form)
    ├── PolicyError              the policy file is invalid (file, key, problem)
    ├── Refused                  a rule says no (who may approve, limits, state); carries a reason code
    ├── CryptoError              decryption failed: wrong master key, or ciphertext moved to another row
    ├── IllegalTransition        a state change the transition table forbids (a bug: names what, src, dst)
    ├── StorageError             the database refused; AuditWriteError when the audit event failed
    │   ├── AuditWriteError
    │   └── SchemaError          the database's schema revision is not this kukey's (says what to run)
    ├── SlackApiError            a Web API call failed (method, Slack error code)
    │   └── NotDelivered         an outbox message not delivered this time (retry_after, may have landed, final)
    └── ExchangeError            the exchange answered with an error or not at all (its code)
        ├── ExchangeRejected         it refused the request's parameters, for good
        ├── ExchangeUnavailable      down, busy or rate-limited: try again later
        ├── ExchangeOutcomeUnknown   a create's answer was lost and the key could not be found again
        └── KucoinError              KuCoin's errors (code, http status, path)
            ├── KucoinAuthError          4000xx: key, signature, passphrase, timestamp, IP whitelist
            ├── KucoinPermissionError    400007 / 403: the master key lacks a permission
            ├── KucoinValidationError    400100: KuCoin's own message          (also ExchangeRejected)
            ├── KucoinRateLimited        429000: retry_after seconds           (also ExchangeUnavailable)
            ├── KucoinUnavailable        5xx, 500000/503000/504000, no answer  (also ExchangeUnavailable)
            └── KucoinOutcomeUnknown     a create timed out, not found again   (also ExchangeOutcomeUnknown)

Services catch only the Exchange* classes, so another exchange's adapter raises those (or its own
subclasses of them) and nothing in bot/services changes.

Messages never contain a secret, passphrase, signature, seed, code or token.
"""

from __future__ import annotations


class KukeyError(Exception):
    """Base of every expected kukey failure."""


class ConfigError(KukeyError):
    """A setting is missing or malformed."""

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class UsageError(KukeyError):
    """A command could not be parsed; `usage` shows the right form."""

    def __init__(self, message: str, *, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


class PolicyError(KukeyError):
    """The policy file is invalid."""

    def __init__(self, message: str, *, file: str = "", key: str = "") -> None:
        super().__init__(message)
        self.file = file
        self.key = key


class Refused(KukeyError):
    """A rule said no. `reason` is a stable code (e.g. "self_approval"), the message is for people."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class CryptoError(KukeyError):
    """Decryption or key handling failed."""


class IllegalTransition(KukeyError):
    """A state change the transition table does not allow. Nothing was changed."""

    def __init__(self, what: str, ref: str, src: str, dst: str) -> None:
        super().__init__(f"{what} {ref}: moving from {src} to {dst} is not allowed")
        self.what = what
        self.ref = ref
        self.src = src
        self.dst = dst


class StorageError(KukeyError):
    """The database refused a write."""


class AuditWriteError(StorageError):
    """The audit event could not be written, so the action did not happen."""


class SchemaError(StorageError):
    """The database's schema is not at the revision this kukey needs; the message says what to run."""


class SlackApiError(KukeyError):
    """A Slack Web API call failed."""

    def __init__(self, message: str, *, method: str = "", error: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.error = error


class NotDelivered(SlackApiError):
    """An outbox message was not delivered this time. `uncertain`: it may have landed (no answer, or a 5xx),
    so look for it before sending it again; `final`: sending it again cannot help; `retry_after`: Slack's
    Retry-After, in seconds."""

    def __init__(self, message: str, *, method: str = "", error: str = "", uncertain: bool = False,
                 final: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message, method=method, error=error)
        self.uncertain = uncertain
        self.final = final
        self.retry_after = retry_after


class ExchangeError(KukeyError):
    """The exchange answered with an error, or did not answer. `code` is the exchange's own."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class ExchangeRejected(ExchangeError):
    """The exchange refused the request's parameters; sending it again would not help."""


class ExchangeUnavailable(ExchangeError):
    """The exchange is down, busy or rate-limiting: the same request may succeed later."""


class ExchangeOutcomeUnknown(ExchangeError):
    """A create was sent, no answer came back, and the key could not be found by its remark."""


class KucoinError(ExchangeError):
    """KuCoin answered with an error, or did not answer."""

    def __init__(
        self, message: str, *, code: str = "", http_status: int | None = None, path: str = ""
    ) -> None:
        super().__init__(message, code=code)
        self.http_status = http_status
        self.path = path


class KucoinAuthError(KucoinError):
    """Configuration or authentication problem (400001-400006, 400008, 400009, 411100)."""


class KucoinPermissionError(KucoinError):
    """The master key lacks a permission (400007, HTTP 403)."""


class KucoinValidationError(KucoinError, ExchangeRejected):
    """KuCoin rejected a parameter (400100); the message is KuCoin's own."""


class KucoinRateLimited(KucoinError, ExchangeUnavailable):
    """KuCoin's rate limit (429000); wait `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class KucoinUnavailable(KucoinError, ExchangeUnavailable):
    """KuCoin is down, busy or unreachable."""


class KucoinUntrusted(KucoinUnavailable):
    """KuCoin's side showed a TLS certificate this host does not trust (a TLS-inspecting proxy whose CA kukey
    lacks, or not KuCoin): nothing was sent, and no retry changes it."""


class KucoinOutcomeUnknown(KucoinError, ExchangeOutcomeUnknown):
    """A create was sent, no answer came back, and the key could not be found by its remark."""
