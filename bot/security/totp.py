"""TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps) on top of pyotp.

`match_step` says which time step a code belongs to; the caller persists that step (replay guard: one use
per user and step) and counts failures (lockout). Seeds and codes never appear in messages or reprs.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from datetime import datetime
from typing import Final

import pyotp

from bot.domain.secret import Secret
from bot.errors import CryptoError

STEP_SECONDS: Final = 30
DIGITS: Final = 6
_CODE: Final = re.compile(r"([0-9]{3})[ \u00a0\u202f-]?([0-9]{3})")


def new_seed() -> Secret:
    """A fresh random seed: 160 bits, base32 (32 characters), as authenticator apps expect."""
    return Secret(pyotp.random_base32(length=32))


def _totp(seed: Secret) -> pyotp.TOTP:
    text = seed.reveal()
    try:
        base64.b32decode(text + "=" * (-len(text) % 8), casefold=True)
    except (binascii.Error, ValueError):
        raise CryptoError("the TOTP seed is not valid base32") from None
    return pyotp.TOTP(text, digits=DIGITS, interval=STEP_SECONDS)


def provisioning_uri(seed: Secret, *, account: str, issuer: str = "kukey") -> Secret:
    """The otpauth:// URI for a QR code. It contains the seed, so it is a Secret too."""
    return Secret(_totp(seed).provisioning_uri(name=account, issuer_name=issuer))


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("TOTP needs an aware datetime (UTC), not a naive one")
    return at


def step_of(at: datetime) -> int:
    """The 30-second time step `at` falls in (seconds since the epoch // 30)."""
    return int(_aware(at).timestamp()) // STEP_SECONDS


def current_code(seed: Secret, at: datetime) -> str:
    """The code an authenticator shows at `at` (for tests and the demo)."""
    return str(_totp(seed).at(step_of(at) * STEP_SECONDS))


def match_step(seed: Secret, code: str, at: datetime, *, drift_steps: int = 1) -> int | None:
    """The step within +-drift_steps of `at` whose code equals `code`, or None.

    Surrounding whitespace and one space or dash in the middle ("123 456") are accepted; anything
    else that is not six ASCII digits is refused without raising. Each candidate step is compared in
    constant time.
    """
    totp = _totp(seed)
    now = step_of(at)
    shape = _CODE.fullmatch(code.strip()) if isinstance(code, str) else None
    if shape is None:
        return None
    typed = shape.group(1) + shape.group(2)
    found: int | None = None
    drift = max(0, drift_steps)
    candidates = sorted(range(max(0, now - drift), now + drift + 1), key=lambda s: abs(s - now))
    for step in candidates:  # nearest first; no early exit, so timing does not depend on which matched
        expected = str(totp.at(step * STEP_SECONDS))
        if hmac.compare_digest(expected.encode(), typed.encode()) and found is None:
            found = step
    return found
