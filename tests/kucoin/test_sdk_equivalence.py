"""Our client's KC-API-SIGN / KC-API-PASSPHRASE equal what the official SDK (kucoin-universal-sdk 1.3.2)
computes for the same request and timestamp, for every call, with awkward passphrases and query values.

The client talks to the sandbox (which also verifies each signature); the sandbox's request log gives what
was really sent. The SDK side uses its own signer (`KcSigner`) and its own request building
(`DefaultTransport.process_request`) with time frozen at our timestamp.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import pytest
import time_machine

from bot.domain.clock import FakeClock
from bot.domain.keys import KeySpec, Permission
from bot.domain.secret import Secret
from bot.errors import KucoinValidationError
from kukey_sandbox.kucoin import KucoinSandbox, RecordedRequest
from kukey_sandbox.kucoin.state import default_seed
from tests.kucoin.helpers import client_for
from tests.kucoin.sdk import (
    SDK_WARNINGS,
    AddSubAccountApiReq,
    ClientOptionBuilder,
    DefaultTransport,
    DeleteSubAccountApiReq,
    GetSpotSubAccountsSummaryV2Req,
    GetSubAccountApiListReq,
    KcSigner,
    ModifySubAccountApiReq,
    TransportOptionBuilder,
)

pytestmark = SDK_WARNINGS

MASTER_PASSPHRASE = "m@ster !#&+ pass"
KEY_PASSPHRASE = "Pa!@#&+ss9"
ODD_PASSPHRASE = "p! @#&+ q%"
ODD_QUERY_VALUE = "a b&c=d+e#f/é"
STAMP_MS = 1767225600000  # 2026-01-01T00:00:00Z: whole seconds survive time_machine's float ns exactly

Recorded = tuple[KucoinSandbox, list[RecordedRequest]]
SDK_MODELS: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/sub/api-key"): AddSubAccountApiReq,
    ("POST", "/api/v1/sub/api-key/update"): ModifySubAccountApiReq,
    ("GET", "/api/v1/sub/api-key"): GetSubAccountApiListReq,
    ("DELETE", "/api/v1/sub/api-key"): DeleteSubAccountApiReq,
    ("GET", "/api/v2/sub/user"): GetSpotSubAccountsSummaryV2Req,
    ("GET", "/api/v1/user/api-key"): None,
}


@pytest.fixture(scope="module")
def recorded() -> Iterator[Recorded]:
    """Run every client call once against a sandbox whose master passphrase is awkward; keep the log."""
    seed = default_seed()
    seed["masters"][0]["api_passphrase"] = MASTER_PASSPHRASE
    clock = FakeClock(datetime.fromtimestamp(STAMP_MS / 1000, tz=UTC))
    with KucoinSandbox(seed, clock=clock) as sandbox, client_for(sandbox, clock) as client:
        perms = frozenset({Permission.SPOT, Permission.FUTURES})
        spec = KeySpec("alpha-trading", perms, ("10.1.2.3", "10.0.0.0/8"), 30)
        created = client.create_key(spec, passphrase=Secret(KEY_PASSPHRASE), remark="KK-EQ 1")
        client.modify_key(created.api_key, KeySpec("alpha-trading", frozenset({Permission.MARGIN})),
                          passphrase=Secret(KEY_PASSPHRASE))
        assert client.list_keys("alpha-trading", api_key=ODD_QUERY_VALUE) == []
        with pytest.raises(KucoinValidationError):
            client.list_keys(ODD_QUERY_VALUE)
        assert client.delete_key("alpha-trading", "no-such-key", Secret(ODD_PASSPHRASE)) is False
        assert client.delete_key("alpha-trading", created.api_key, Secret(KEY_PASSPHRASE)) is True
        client.list_sub_accounts()
        client.whoami()
        log = [r for r in sandbox.requests if r.path != "/api/v1/timestamp"]
        yield sandbox, log


def _sdk_transport(sandbox: KucoinSandbox) -> DefaultTransport:
    creds = sandbox.master_credentials
    option = (ClientOptionBuilder().set_key(creds.api_key).set_secret(creds.api_secret.reveal())
              .set_passphrase(creds.api_passphrase.reveal()).set_spot_endpoint(sandbox.url)
              .set_transport_option(TransportOptionBuilder().build()).build())
    return DefaultTransport(option, "1.3.2")


def _sdk_request(req: RecordedRequest) -> Any:
    model = SDK_MODELS[(req.method, req.path)]
    if model is None:
        return None
    if req.method == "POST":
        return model.from_dict(json.loads(req.body))
    fields = dict(parse_qsl(req.raw_query, keep_blank_values=True))
    return model.from_dict(fields)


def test_every_call_was_authenticated_by_the_sandbox(recorded: Recorded) -> None:
    """All recorded calls cover the six endpoints and none was refused for auth (4000xx other than 400100)."""
    sandbox, log = recorded
    assert {(r.method, r.path) for r in log} == set(SDK_MODELS)
    assert not {code for code in sandbox.answer_counts() if code.startswith("4000") or code == "411100"}


def test_sign_and_passphrase_equal_the_sdk_signer(recorded: Recorded) -> None:
    """For each request, the SDK's KcSigner over the same method/path/query/body/time gives our headers."""
    sandbox, log = recorded
    creds = sandbox.master_credentials
    signer = KcSigner(creds.api_key, creds.api_secret.reveal(), creds.api_passphrase.reveal())
    for req in log:
        assert req.headers["KC-API-TIMESTAMP"] == str(STAMP_MS)
        pairs = parse_qsl(req.raw_query, keep_blank_values=True)
        raw_url = req.path + ("?" + DefaultTransport.raw_query(pairs) if pairs else "")
        body = req.body.decode() if req.method == "POST" else ""
        with time_machine.travel(STAMP_MS / 1000, tick=False):
            sdk = signer.headers(req.method + raw_url + body)
        assert sdk["KC-API-TIMESTAMP"] == str(STAMP_MS)
        assert req.headers["KC-API-SIGN"] == sdk["KC-API-SIGN"], req.path
        assert req.headers["KC-API-PASSPHRASE"] == sdk["KC-API-PASSPHRASE"]
        assert req.headers["KC-API-KEY-VERSION"] == sdk["KC-API-KEY-VERSION"] == "3"


def test_sdk_builds_the_same_request_and_signature(recorded: Recorded) -> None:
    """The SDK's own request building (its models, body text, query order) yields our exact signature."""
    sandbox, log = recorded
    transport = _sdk_transport(sandbox)
    try:
        for req in log:
            with time_machine.travel(STAMP_MS / 1000, tick=False):
                prepared = transport.process_request(_sdk_request(req), broker=False, path=req.path,
                                                     endpoint=sandbox.url, method=req.method,
                                                     request_as_json=False)
            assert prepared.headers["KC-API-SIGN"] == req.headers["KC-API-SIGN"], req.path
            assert prepared.headers["KC-API-PASSPHRASE"] == req.headers["KC-API-PASSPHRASE"]
            if req.method == "POST":
                assert prepared.body == req.body.decode()
            sdk_query = prepared.url.partition("?")[2]
            ours = parse_qsl(req.raw_query, keep_blank_values=True)
            assert parse_qsl(sdk_query, keep_blank_values=True) == ours
    finally:
        transport.close()


def test_awkward_values_really_were_exercised(recorded: Recorded) -> None:
    """The log holds the escaped odd query value and the odd DELETE passphrase, decoded back exactly."""
    _, log = recorded
    decoded = [dict(parse_qsl(r.raw_query, keep_blank_values=True)) for r in log]
    assert {"subName": "alpha-trading", "apiKey": ODD_QUERY_VALUE} in decoded
    assert any(d.get("passphrase") == ODD_PASSPHRASE for d in decoded)
    assert all(" " not in r.raw_query and "#" not in r.raw_query for r in log)
