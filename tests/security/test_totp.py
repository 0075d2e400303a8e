"""TOTP primitives against real pyotp codes at fixed times (RFC 6238 vectors)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.secret import Secret
from bot.errors import CryptoError
from bot.security.totp import current_code, match_step, new_seed, provisioning_uri, step_of

# RFC 6238 appendix B, SHA-1 seed "12345678901234567890"; the 6-digit codes are the last 6 of 8 digits.
RFC_SEED = Secret(base64.b32encode(b"12345678901234567890").decode())
VECTORS = [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"), (1234567890, "005924"),
           (2000000000, "279037")]
AT = datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.mark.parametrize(("seconds", "code"), VECTORS)
def test_codes_match_rfc_6238(seconds: int, code: str) -> None:
    """current_code gives the RFC 6238 code, and match_step finds it in the step of that time."""
    assert current_code(RFC_SEED, at(seconds)) == code
    assert match_step(RFC_SEED, code, at(seconds)) == seconds // 30 == step_of(at(seconds))


@pytest.mark.parametrize(("offset", "matched"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_one_step_of_drift_is_accepted_and_two_are_refused(offset: int, matched: bool) -> None:
    """A code from the previous or next 30-s step matches (returning that step); two steps away does not."""
    seed = new_seed()
    code = pyotp.TOTP(seed.reveal()).at(AT + timedelta(seconds=30 * offset))
    expected = step_of(AT) + offset if matched else None
    assert match_step(seed, code, AT) == expected


def test_drift_zero_accepts_only_the_current_step() -> None:
    """With drift_steps=0 only the code of the current step matches."""
    seed = new_seed()
    assert match_step(seed, current_code(seed, AT), AT, drift_steps=0) == step_of(AT)
    previous = current_code(seed, AT - timedelta(seconds=30))
    if previous != current_code(seed, AT):
        assert match_step(seed, previous, AT, drift_steps=0) is None


@pytest.mark.parametrize("garbage", ["", "28708", "2870820", "abcdef", "28708a", "287 08 2", "2870-82",
                                     "\u0662\u0668\u0667\u0660\u0668\u0662", "287082\n1", "-287082",
                                     "2.87082", "\x00" * 6, "9" * 10000])
def test_garbage_codes_are_refused_without_raising(garbage: str) -> None:
    """Anything but six ASCII digits is refused with None, including Unicode digits and huge input."""
    assert match_step(RFC_SEED, garbage, at(59)) is None


@pytest.mark.parametrize("typed", ["287082", " 287082 ", "287 082", "287-082", "287\u00a0082"])
def test_codes_typed_with_spaces_or_a_dash_still_match(typed: str) -> None:
    """Authenticator apps show `287 082`; separators people copy along are ignored."""
    assert match_step(RFC_SEED, typed, at(59)) == 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_any_text_code_returns_a_step_or_none(code: str) -> None:
    """match_step never raises for any text it is given as a code."""
    result = match_step(RFC_SEED, code, AT)
    assert result is None or abs(result - step_of(AT)) <= 1


def test_new_seeds_are_random_160_bit_base32_secrets() -> None:
    """new_seed returns a Secret of 32 base32 characters (160 bits), different every time."""
    seeds = [new_seed() for _ in range(50)]
    assert len({s.reveal() for s in seeds}) == 50
    for seed in seeds:
        assert len(base64.b32decode(seed.reveal())) == 20
        assert seed.reveal() not in repr(seed) + str(seed) + f"{seed}"


def test_provisioning_uri_is_a_secret_that_authenticators_can_read() -> None:
    """The otpauth URI carries the seed, is wrapped as a Secret, and yields the same codes when parsed."""
    seed = new_seed()
    uri = provisioning_uri(seed, account="U0ALICE")
    assert isinstance(uri, Secret) and seed.reveal() not in repr(uri) + str(uri)
    text = uri.reveal()
    assert text.startswith("otpauth://totp/kukey:U0ALICE?secret=" + seed.reveal())
    assert "issuer=kukey" in text
    parsed = pyotp.parse_uri(text)
    assert isinstance(parsed, pyotp.TOTP) and parsed.at(AT) == current_code(seed, AT)


def test_naive_datetimes_are_refused() -> None:
    """Time must be aware: a naive datetime is a programming error, reported as ValueError."""
    with pytest.raises(ValueError, match="aware"):
        step_of(datetime(2026, 1, 1))


def test_a_corrupt_seed_is_a_crypto_error_that_does_not_show_the_seed() -> None:
    """A seed that is not base32 raises CryptoError whose message does not contain the seed."""
    with pytest.raises(CryptoError) as caught:
        match_step(Secret("not base32 !!"), "123456", AT)
    assert "not base32 !!" not in str(caught.value)


def test_steps_before_the_epoch_are_not_tried() -> None:
    """At the very first step, drift does not reach negative steps (pyotp would refuse them)."""
    assert match_step(RFC_SEED, current_code(RFC_SEED, at(0)), at(0)) == 0
