"""A wrapper that keeps a secret value out of reprs, logs, f-strings and exception texts."""

from __future__ import annotations

import re
from typing import Final

_MASK: Final = "**redacted**"


class Secret:
    """Holds a sensitive string. `str()`/`repr()`/`format()` never show it; `.reveal()` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):  # pragma: no cover - defensive
            value = value.reveal()
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        import hmac

        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values are not picklable")


# Field names that say "this holds a secret" (logs redact such fields; the audit log refuses them).
_SECRET_WORDS: Final = ("secret", "passphrase", "password", "signature", "token", "seed")
_CODE_CONTEXT: Final = frozenset({"totp", "otp", "mfa", "2fa", "auth", "verification", "backup", "recovery"})


def is_secret_name(name: str) -> bool:
    """True when a field name says it holds a secret: secret, passphrase, password, signature, token,
    seed anywhere in it; a `sign` part; or a one-time `code` (`code`, `totp_code`, `authCode`; not
    `kucoin_code` or `error_code`, which are error codes)."""
    lowered = name.lower()
    if any(word in lowered for word in _SECRET_WORDS):
        return True
    parts = [p for p in re.split(r"[^a-z0-9]+", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()) if p]
    if "sign" in parts:
        return True
    if "code" in parts or "codes" in parts:
        return len(parts) == 1 or bool(_CODE_CONTEXT.intersection(parts))
    return False
