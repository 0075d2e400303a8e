"""Signing: KuCoin's published vector, query handling, and the exact headers built."""

from __future__ import annotations

from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.secret import Secret
from bot.kucoin.signing import (
    Credentials,
    auth_headers,
    encode_body,
    hmac_b64,
    prehash,
    raw_query,
    wire_query,
)


def test_published_example_vector() -> None:
    """The signature of KuCoin's documented example request matches the documented value."""
    text = prehash("1547015186532", "post", "/api/v1/deposit-addresses", (), '{"currency":"BTC"}')
    assert text == '1547015186532POST/api/v1/deposit-addresses{"currency":"BTC"}'
    expected = "7QP/oM0ykidMdrfNEUmng8eZjg/ZvPafjIqmxiVfYu4="
    assert hmac_b64("f03a5284-5c39-4aaa-9b20-dea10bdcf8e3", text) == expected


def test_query_is_signed_unencoded_in_wire_order() -> None:
    """The signed query keeps the given order and raw characters; the wire query is the same, escaped."""
    params = (("subName", "b b"), ("apiKey", "a&b=c"), ("passphrase", "p+q#%"))
    assert raw_query(params) == "subName=b b&apiKey=a&b=c&passphrase=p+q#%"
    assert wire_query(params) == "subName=b%20b&apiKey=a%26b%3Dc&passphrase=p%2Bq%23%25"
    assert prehash("1", "delete", "/x", params) == "1DELETE/x?subName=b b&apiKey=a&b=c&passphrase=p+q#%"


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))


@given(st.lists(st.tuples(_TEXT.filter(bool), _TEXT), max_size=5))
def test_wire_query_decodes_back_to_the_signed_pairs(params: list[tuple[str, str]]) -> None:
    """For any names and values, percent-decoding the wire query pair by pair gives the signed pairs."""
    wire = wire_query(params)
    pairs = wire.split("&") if params else []
    decoded = [tuple(unquote(part) for part in pair.split("=", 1)) for pair in pairs]
    assert decoded == params


def test_body_is_compact_json_in_insertion_order() -> None:
    """The body text keeps key order, has no spaces and keeps non-ASCII as UTF-8 (like the official SDK)."""
    assert encode_body({"z": "é", "a": 1}) == '{"z":"é","a":1}'


def test_auth_headers_carry_version_3_and_hmac_passphrase() -> None:
    """The headers are the key, an HMAC signature, the timestamp, the HMAC'd passphrase and version 3."""
    creds = Credentials("key-1", Secret("s3cr3t-v4lue"), Secret("pass phrase"))
    headers = auth_headers(creds, timestamp="1700000000000", method="GET", path="/api/v1/user/api-key")
    assert headers == {
        "KC-API-KEY": "key-1",
        "KC-API-SIGN": hmac_b64("s3cr3t-v4lue", "1700000000000GET/api/v1/user/api-key"),
        "KC-API-TIMESTAMP": "1700000000000",
        "KC-API-PASSPHRASE": hmac_b64("s3cr3t-v4lue", "pass phrase"),
        "KC-API-KEY-VERSION": "3",
        "Content-Type": "application/json",
    }
    assert "s3cr3t-v4lue" not in repr(creds) and "pass phrase" not in repr(creds)
