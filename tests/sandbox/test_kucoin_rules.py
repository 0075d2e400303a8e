"""The sandbox enforces KuCoin's authentication and field rules, answered with KuCoin's codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bot.domain.clock import FakeClock
from bot.kucoin.signing import Credentials, auth_headers, encode_body, wire_query
from kukey_sandbox.kucoin import KucoinSandbox
from kukey_sandbox.kucoin.state import default_seed

KEYS = "/api/v1/sub/api-key"


@dataclass
class Raw:
    """Signed raw HTTP to the sandbox (signing verified identical to the official SDK elsewhere)."""

    sandbox: KucoinSandbox
    clock: FakeClock
    http: httpx.Client

    def call(self, method: str, path: str, params: tuple[tuple[str, str], ...] = (), body: Any = None,
             *, creds: Credentials | None = None, headers: dict[str, str] | None = None,
             stamp_offset_ms: int = 0) -> httpx.Response:
        master = self.sandbox.master_credentials
        creds = creds or Credentials(master.api_key, master.api_secret, master.api_passphrase)
        text = encode_body(body) if body is not None else ""
        stamp = str(int(self.clock.now().timestamp() * 1000) + stamp_offset_ms)
        sent = auth_headers(creds, timestamp=stamp, method=method, path=path, params=params, body=text)
        sent.update(headers or {})
        url = self.sandbox.url + path + ("?" + wire_query(params) if params else "")
        return self.http.request(method, url, headers=sent, content=text.encode() or None)

    def create(self, **fields: Any) -> httpx.Response:
        body = {"subName": "alpha-trading", "passphrase": "Passphrase1", "remark": "r1", **fields}
        return self.call("POST", KEYS, body={k: v for k, v in body.items() if v is not None})


def code(response: httpx.Response) -> tuple[str, int]:
    return str(response.json()["code"]), response.status_code


@pytest.fixture
def kucoin_raw() -> Iterator[Raw]:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    seed = default_seed()
    seed["settings"]["max_keys_per_sub_account"] = 3
    with KucoinSandbox(seed, clock=clock) as sandbox, httpx.Client() as http:
        yield Raw(sandbox, clock, http)


@pytest.mark.parametrize(
    "fields",
    [
        {"passphrase": "Short1"}, {"passphrase": "P" * 33}, {"passphrase": "has space1"},
        {"passphrase": None},
        {"remark": ""}, {"remark": "R" * 25}, {"remark": None},
        {"permission": "General,Transfer"}, {"permission": "Trade"}, {"permission": "spot"},
        {"ipWhitelist": ",".join(f"10.0.0.{i}" for i in range(21))}, {"ipWhitelist": "999.1.1.1"},
        {"expire": "7"}, {"expire": "forever"}, {"subName": "nobody"}, {"subName": None},
    ],
)
def test_create_field_rules(kucoin_raw: Raw, fields: dict[str, Any]) -> None:
    """Each out-of-rule field of a create is refused with 400100 (HTTP 400) and creates nothing."""
    assert code(kucoin_raw.create(**fields)) == ("400100", 400)
    assert kucoin_raw.sandbox.keys("alpha-trading") == []


@pytest.mark.parametrize(
    "fields",
    [
        {"passphrase": "P" * 7}, {"passphrase": "P!@#&+%x" * 4}, {"remark": "R" * 24},
        {"ipWhitelist": ",".join(f"10.0.0.{i}" for i in range(20))},
        {"ipWhitelist": "2001:db8::1,10.0.0.0/8"},
        *({"expire": e} for e in ("-1", "30", "90", "180", "360")),
        {"permission": "General,Spot,Futures,Margin,InnerTransfer"},
    ],
)
def test_create_accepts_values_at_the_limits(kucoin_raw: Raw, fields: dict[str, Any]) -> None:
    """Values exactly at KuCoin's limits are accepted."""
    assert code(kucoin_raw.create(**fields)) == ("200000", 200)


def test_create_grants_general_and_returns_the_secret_only_once(kucoin_raw: Raw) -> None:
    """General is always granted, the secret comes only with the create, and lists mask IPs."""
    created = kucoin_raw.create(permission="Spot", ipWhitelist="10.20.30.40,172.16.0.0/12").json()["data"]
    assert created["permission"] == "General,Spot" and created["apiSecret"] and created["apiVersion"] == 3
    assert kucoin_raw.create(remark="r2").json()["data"]["permission"] == "General"
    rows = kucoin_raw.call("GET", KEYS, (("subName", "alpha-trading"),)).json()["data"]
    assert all("apiSecret" not in row and "passphrase" not in row for row in rows)
    assert rows[0]["ipWhitelist"] == "10.**.40,172.**.0/12"
    me = kucoin_raw.call("GET", "/api/v1/user/api-key").json()["data"]
    assert me["isMaster"] is True and "apiSecret" not in me


def test_unopened_trade_types_are_not_granted(kucoin_raw: Raw) -> None:
    """Futures on the spot-only sub-account is silently dropped; the frozen sub-account refuses keys."""
    data = kucoin_raw.create(subName="beta-spot", permission="General,Spot,Futures").json()["data"]
    assert data["permission"] == "General,Spot"
    assert code(kucoin_raw.create(subName="gamma-frozen")) == ("400100", 400)


def test_key_cap_per_sub_account(kucoin_raw: Raw) -> None:
    """The seed's max_keys_per_sub_account (3 here) is answered with 400100 on the next create."""
    for n in range(3):
        assert code(kucoin_raw.create(remark=f"r{n}"))[0] == "200000"
    response = kucoin_raw.create(remark="r3")
    assert code(response) == ("400100", 400) and "at most 3" in response.json()["msg"]


def test_modify_and_delete_need_the_keys_own_passphrase(kucoin_raw: Raw) -> None:
    """Modify and delete with a wrong key passphrase are refused (400100); the right one works."""
    api_key = kucoin_raw.create().json()["data"]["apiKey"]
    base = {"subName": "alpha-trading", "apiKey": api_key}
    wrong_modify = kucoin_raw.call("POST", KEYS + "/update", body={**base, "passphrase": "Wrong-pass"})
    assert code(wrong_modify)[0] == "400100"
    modified = kucoin_raw.call("POST", KEYS + "/update", body={**base, "passphrase": "Passphrase1",
                                                               "permission": "General,Margin"})
    assert modified.json()["data"]["permission"] == "General,Margin"
    assert kucoin_raw.sandbox.keys("alpha-trading")[0]["expire"] == "-1"
    wrong = (("apiKey", api_key), ("subName", "alpha-trading"), ("passphrase", "Wrong-pass"))
    assert code(kucoin_raw.call("DELETE", KEYS, wrong))[0] == "400100"
    right = (("apiKey", api_key), ("subName", "alpha-trading"), ("passphrase", "Passphrase1"))
    assert kucoin_raw.call("DELETE", KEYS, right).json()["data"] == {"subName": "alpha-trading",
                                                                      "apiKey": api_key}
    assert code(kucoin_raw.call("DELETE", KEYS, right)) == ("400100", 400)


def test_list_sub_accounts_paginates(kucoin_raw: Raw) -> None:
    """Pages follow pageSize; pageSize outside 1..100 is a parameter error."""
    page = kucoin_raw.call("GET", "/api/v2/sub/user", (("currentPage", "2"), ("pageSize", "3"))).json()
    data = page["data"]
    assert (data["totalNum"], data["totalPage"], [i["subName"] for i in data["items"]]) == \
        (4, 2, ["delta-research"])
    assert code(kucoin_raw.call("GET", "/api/v2/sub/user", (("pageSize", "101"),))) == ("400100", 400)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"headers": {"KC-API-SIGN": ""}}, "400001"),
        ({"headers": {"KC-API-KEY": "ffffffffffffffffffffffff"}}, "400003"),
        ({"headers": {"KC-API-KEY-VERSION": "2"}}, "400009"),
        ({"stamp_offset_ms": -5_001}, "400002"),
        ({"stamp_offset_ms": 5_001}, "400002"),
        ({"headers": {"KC-API-PASSPHRASE": "sandbox-master-passphrase"}}, "400004"),
        ({"headers": {"KC-API-SIGN": "AAAA"}}, "400005"),
    ],
)
def test_authentication_codes(kucoin_raw: Raw, change: dict[str, Any], expected: str) -> None:
    """Missing header, unknown key, wrong version, stale timestamp, plain passphrase, bad signature: 401."""
    response = kucoin_raw.call("GET", "/api/v1/user/api-key", **change)
    assert code(response) == (expected, 401)
    assert "gw-ratelimit-remaining" not in response.headers


def test_timestamp_within_five_seconds_is_accepted(kucoin_raw: Raw) -> None:
    """A timestamp 4.9 s off either way is inside KuCoin's window."""
    for offset in (-4_900, 4_900):
        assert code(kucoin_raw.call("GET", "/api/v1/user/api-key", stamp_offset_ms=offset))[0] == "200000"


def test_post_without_json_content_type_is_415(kucoin_raw: Raw) -> None:
    """A POST that is not application/json is refused with 415000."""
    response = kucoin_raw.call("POST", KEYS, body={"subName": "x"}, headers={"Content-Type": "text/plain"})
    assert code(response) == ("415000", 415)


def test_unknown_url_is_404(kucoin_raw: Raw) -> None:
    """A path the sandbox does not serve answers 404 with code 404000."""
    assert code(kucoin_raw.call("GET", "/api/v1/withdrawals")) == ("404000", 404)


def test_management_pool_weights_headers_and_429() -> None:
    """Each answer carries the pool headers; weights follow the doc; an exhausted pool answers 429000."""
    clock = FakeClock()
    with KucoinSandbox(clock=clock, management_budget=90) as sandbox, httpx.Client() as http:
        raw = Raw(sandbox, clock, http)
        assert sandbox.management_spent() == 0
        first = raw.call("GET", "/api/v1/user/api-key")
        assert sandbox.management_spent() == 20
        assert (first.headers["gw-ratelimit-limit"], first.headers["gw-ratelimit-remaining"]) == ("90", "70")
        assert first.headers["gw-ratelimit-reset"] == "30000"
        clock.advance(10)
        query = (("apiKey", "x"), ("subName", "alpha-trading"), ("passphrase", "p"))
        deleted = raw.call("DELETE", KEYS, query)
        assert code(deleted)[0] == "400100" and deleted.headers["gw-ratelimit-remaining"] == "40"
        assert deleted.headers["gw-ratelimit-reset"] == "20000"
        raw.call("POST", KEYS + "/update", body={"subName": "alpha-trading"})
        refused = raw.call("GET", "/api/v1/user/api-key")
        assert code(refused) == ("429000", 429) and refused.headers["gw-ratelimit-remaining"] == "10"
        assert sandbox.management_spent() == 80  # the refused call spent nothing
        public = raw.call("GET", "/api/v1/timestamp")
        assert code(public)[0] == "200000" and public.headers["gw-ratelimit-remaining"] == str(2000 - 3)
        clock.advance(20)
        assert sandbox.management_spent() == 0  # the window has passed
        renewed = raw.call("GET", "/api/v1/user/api-key")
        assert code(renewed)[0] == "200000" and renewed.headers["gw-ratelimit-remaining"] == "70"


def test_pools_are_per_master_account() -> None:
    """Two master accounts have separate Management pools."""
    seed = default_seed()
    other = json.loads(json.dumps(seed["masters"][0]))
    other.update(uid=100000002, api_key="65a1f0c2d4e5f60718293a4c", sub_accounts=[])
    seed["masters"].append(other)
    clock = FakeClock()
    with KucoinSandbox(seed, clock=clock, management_budget=20) as sandbox, httpx.Client() as http:
        raw = Raw(sandbox, clock, http)
        first, second = sandbox.all_master_credentials()
        for creds in (first, second):
            as_master = Credentials(creds.api_key, creds.api_secret, creds.api_passphrase)
            assert code(raw.call("GET", "/api/v1/user/api-key", creds=as_master))[0] == "200000"
        assert code(raw.call("GET", "/api/v1/user/api-key"))[0] == "429000"
