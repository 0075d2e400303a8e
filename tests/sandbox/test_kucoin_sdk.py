"""The official SDK (kucoin-universal-sdk 1.3.2) pointed at the sandbox: it works; KuCoin's refusals match.

This is the evidence that the sandbox verifies requests the way KuCoin does: a client written by KuCoin
passes, and the classic mistakes (wrong signature or passphrase, stale timestamp, URL-encoded signing,
DELETE parameters in a body) get KuCoin's codes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from kukey_sandbox.kucoin import KucoinSandbox
from tests.kucoin.sdk import (
    SDK_WARNINGS,
    AddSubAccountApiReq,
    ClientOptionBuilder,
    DefaultClient,
    DeleteSubAccountApiReq,
    GetSubAccountApiListReq,
    KcSigner,
    ModifySubAccountApiReq,
    RestError,
    TransportOptionBuilder,
)

pytestmark = SDK_WARNINGS
KEYS = "/api/v1/sub/api-key"


@pytest.fixture
def kucoin_sandbox() -> Iterator[KucoinSandbox]:
    with KucoinSandbox() as sandbox:  # real clock: the SDK stamps requests with time.time()
        yield sandbox


@pytest.fixture
def kucoin_sdk(kucoin_sandbox: KucoinSandbox) -> Iterator[Callable[..., Any]]:
    """Build the SDK's sub-account API for the sandbox (optionally with another passphrase); closed after."""
    made: list[Any] = []

    def make(passphrase: str | None = None) -> Any:
        creds = kucoin_sandbox.master_credentials
        option = (ClientOptionBuilder().set_key(creds.api_key).set_secret(creds.api_secret.reveal())
                  .set_passphrase(passphrase or creds.api_passphrase.reveal())
                  .set_spot_endpoint(kucoin_sandbox.url)
                  .set_transport_option(TransportOptionBuilder().set_max_retries(0).build()).build())
        api = DefaultClient(option).rest_service().get_account_service().get_sub_account_api()
        made.append(api)
        return api

    yield make
    for api in made:
        api.transport.close()


def _code_of(err: RestError) -> str:
    """KuCoin's code from an SDK error (a non-200 status only keeps the raw body in the message)."""
    if err.response is not None:
        return str(err.response.code)
    body = str(err.msg).split("msg: ", 1)[1]
    return str(json.loads(body)["code"])


def test_sdk_creates_lists_modifies_and_deletes_a_key(kucoin_sandbox: KucoinSandbox,
                                                      kucoin_sdk: Callable[..., Any]) -> None:
    """The SDK's own calls succeed end to end, and the sandbox's state follows them."""
    api = kucoin_sdk()
    created = api.add_sub_account_api(AddSubAccountApiReq(
        sub_name="alpha-trading", passphrase="SdkPass123!", remark="sdk-1", permission="General,Spot",
        ip_whitelist="10.1.2.3", expire=AddSubAccountApiReq.ExpireEnum.T_30))
    assert created.api_secret and created.permission == "General,Spot" and created.api_version == 3
    listed = api.get_sub_account_api_list(GetSubAccountApiListReq(sub_name="alpha-trading"))
    assert [(k.api_key, k.ip_whitelist) for k in listed.data] == [(created.api_key, "10.**.3")]
    modified = api.modify_sub_account_api(ModifySubAccountApiReq(
        sub_name="alpha-trading", api_key=created.api_key, passphrase="SdkPass123!",
        permission="General,Spot,Futures", ip_whitelist="10.1.2.4"))
    assert modified.permission == "General,Spot,Futures"
    assert kucoin_sandbox.keys("alpha-trading")[0]["expire"] == "-1"  # the SDK's default reset it
    deleted = api.delete_sub_account_api(DeleteSubAccountApiReq(
        sub_name="alpha-trading", api_key=created.api_key, passphrase="SdkPass123!"))
    assert deleted.api_key == created.api_key
    assert kucoin_sandbox.keys("alpha-trading") == []


def test_sdk_with_wrong_passphrase_gets_400004(kucoin_sdk: Callable[..., Any]) -> None:
    """A wrong master passphrase is refused with 400004."""
    api = kucoin_sdk(passphrase="not-the-passphrase")
    with pytest.raises(RestError) as info:
        api.get_sub_account_api_list(GetSubAccountApiListReq(sub_name="alpha-trading"))
    assert _code_of(info.value) == "400004"


def test_sdk_with_a_stale_timestamp_gets_400002(kucoin_sandbox: KucoinSandbox,
                                                kucoin_sdk: Callable[..., Any]) -> None:
    """When KuCoin's clock is 6 s ahead of the caller's, the request is refused with 400002."""
    kucoin_sandbox.set_clock_skew(6_000)
    with pytest.raises(RestError) as info:
        kucoin_sdk().get_sub_account_api_list(GetSubAccountApiListReq(sub_name="alpha-trading"))
    assert _code_of(info.value) == "400002"


def _send(sandbox: KucoinSandbox, method: str, signed: str, wire_path: str, body: str = "") -> dict[str, Any]:
    """Send a request whose headers the SDK's signer made over `signed` (METHOD + endpoint + body)."""
    creds = sandbox.master_credentials
    signer = KcSigner(creds.api_key, creds.api_secret.reveal(), creds.api_passphrase.reveal())
    headers = signer.headers(signed)
    headers["Content-Type"] = "application/json"
    with httpx.Client() as http:
        response = http.request(method, sandbox.url + wire_path, headers=headers, content=body or None)
    doc: dict[str, Any] = response.json()
    doc["http"] = response.status_code
    return doc


def test_signature_over_a_different_body_gets_400005(kucoin_sandbox: KucoinSandbox) -> None:
    """A body changed after signing is refused with 400005."""
    signed_body = json.dumps({"subName": "alpha-trading", "passphrase": "abcdefgh", "remark": "a"})
    sent_body = signed_body.replace('"a"', '"b"')
    doc = _send(kucoin_sandbox, "POST", "POST" + KEYS + signed_body, KEYS, sent_body)
    assert (doc["code"], doc["http"]) == ("400005", 401)


def test_query_must_be_signed_unencoded(kucoin_sandbox: KucoinSandbox) -> None:
    """Signing the URL-encoded query is refused (400005); signing it decoded passes."""
    value = "a b&c"
    wire = f"{KEYS}?apiKey={quote(value, safe='')}&subName=alpha-trading"
    encoded = _send(kucoin_sandbox, "GET", "GET" + wire, wire)
    assert encoded["code"] == "400005"
    plain = _send(kucoin_sandbox, "GET", f"GET{KEYS}?apiKey={value}&subName=alpha-trading", wire)
    assert (plain["code"], plain["data"]) == ("200000", [])


def test_query_must_be_signed_in_wire_order(kucoin_sandbox: KucoinSandbox) -> None:
    """Signing sorted parameters while sending them in another order is refused (400005)."""
    wire = f"{KEYS}?subName=alpha-trading&apiKey=x"
    assert _send(kucoin_sandbox, "GET", f"GET{KEYS}?apiKey=x&subName=alpha-trading", wire)["code"] == "400005"
    assert _send(kucoin_sandbox, "GET", "GET" + wire, wire)["code"] == "200000"


def test_delete_parameters_in_a_body_are_refused(kucoin_sandbox: KucoinSandbox) -> None:
    """A DELETE carrying its parameters as JSON: signed with the body 400005, without it 400100."""
    body = json.dumps({"apiKey": "x", "subName": "alpha-trading", "passphrase": "abcdefgh"})
    assert _send(kucoin_sandbox, "DELETE", "DELETE" + KEYS + body, KEYS, body)["code"] == "400005"
    doc = _send(kucoin_sandbox, "DELETE", "DELETE" + KEYS, KEYS, body)
    assert (doc["code"], doc["http"]) == ("400100", 400)


def test_sdk_update_costs_30_and_refuses_as_kucoin_does(kucoin_sandbox: KucoinSandbox,
                                                        kucoin_sdk: Callable[..., Any]) -> None:
    """The SDK's update (modifySubAccountApi) passes with the key's own passphrase at weight 30 in the
    Management pool, leaves the secret alone, and gets KuCoin's codes for a wrong passphrase, an unknown
    apiKey, a bad IP or permission (400100), and the key itself calling from its whitelisted IP (400007: only
    the master may)."""
    api = kucoin_sdk()
    created = api.add_sub_account_api(AddSubAccountApiReq(
        sub_name="alpha-trading", passphrase="SdkPass123!", remark="sdk-up", permission="General,Spot",
        ip_whitelist="10.1.2.3", expire=AddSubAccountApiReq.ExpireEnum.T_90))
    listed = api.get_sub_account_api_list(GetSubAccountApiListReq(sub_name="alpha-trading"))
    update = {"sub_name": "alpha-trading", "api_key": created.api_key, "passphrase": "SdkPass123!",
              "permission": "General,Spot,Margin", "ip_whitelist": "127.0.0.1,10.9.0.0/16",
              "expire": ModifySubAccountApiReq.ExpireEnum.T_90}
    modified = api.modify_sub_account_api(ModifySubAccountApiReq(**update))
    assert (modified.api_key, modified.permission, modified.ip_whitelist) == (
        created.api_key, "General,Spot,Margin", "127.0.0.1,10.9.0.0/16")
    assert listed.common_response.rate_limit.remaining - modified.common_response.rate_limit.remaining == 30
    key = kucoin_sandbox.world.keys[created.api_key]
    assert (key.api_secret, key.expire) == (created.api_secret, "90")
    wrong = [{"passphrase": "NotThePass1"}, {"api_key": "0123456789abcdef01234567"},
             {"ip_whitelist": "10.1.2.999"}, {"permission": "General,Transfer"}]
    for change in wrong:
        with pytest.raises(RestError) as info:
            api.modify_sub_account_api(ModifySubAccountApiReq(**{**update, **change}))
        assert _code_of(info.value) == "400100", change
    assert kucoin_sandbox.keys("alpha-trading")[0]["ips"] == ["127.0.0.1", "10.9.0.0/16"]
    as_sub = kucoin_sdk_for(kucoin_sandbox, created.api_key, created.api_secret, "SdkPass123!")
    try:
        with pytest.raises(RestError) as info:
            as_sub.modify_sub_account_api(ModifySubAccountApiReq(**update))
        assert _code_of(info.value) == "400007"
    finally:
        as_sub.transport.close()


def kucoin_sdk_for(sandbox: KucoinSandbox, key: str, secret: str, passphrase: str) -> Any:
    """The SDK's sub-account API with another key's credentials (a sub-account's own key)."""
    option = (ClientOptionBuilder().set_key(key).set_secret(secret).set_passphrase(passphrase)
              .set_spot_endpoint(sandbox.url)
              .set_transport_option(TransportOptionBuilder().set_max_retries(0).build()).build())
    return DefaultClient(option).rest_service().get_account_service().get_sub_account_api()
