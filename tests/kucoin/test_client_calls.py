"""Every KucoinClient call against the sandbox, with typed results."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.domain.clock import FakeClock
from bot.domain.keys import KeySpec, Permission
from bot.domain.secret import Secret
from bot.errors import KucoinValidationError
from bot.kucoin import KucoinClient, generate_passphrase
from kukey_sandbox.kucoin import KucoinSandbox
from kukey_sandbox.kucoin.state import default_seed
from tests.kucoin.conftest import MakeClient
from tests.kucoin.helpers import client_for

SPOT_FUTURES = frozenset({Permission.SPOT, Permission.FUTURES})


def test_whoami_describes_the_master_key(client: KucoinClient, sandbox: KucoinSandbox) -> None:
    """whoami says the configured key is a v3 master key with General."""
    me = client.whoami()
    assert me.is_master and me.has_general and me.api_version == 3
    assert me.api_key == sandbox.master_credentials.api_key
    assert {"General", "Spot"} <= me.permissions


def test_server_time_and_clock_offset() -> None:
    """A client whose clock is 10 minutes slow signs with KuCoin's time thanks to the /timestamp offset."""
    slow = FakeClock(datetime.now(UTC) - timedelta(minutes=10))
    with KucoinSandbox() as real_time_sandbox, client_for(real_time_sandbox, slow) as client:
        assert abs(client.sync_clock().offset_ms - 600_000) < 2_000
        assert client.whoami().is_master
        assert abs(client.server_time() - datetime.now(UTC)) < timedelta(seconds=2)


def test_create_key_returns_secret_and_granted_permissions(client: KucoinClient, sandbox: KucoinSandbox,
                                                           clock: FakeClock) -> None:
    """create_key returns the secret once, the passphrase, what was granted, and the sandbox holds the key."""
    passphrase = generate_passphrase()
    spec = KeySpec("alpha-trading", SPOT_FUTURES, ("10.1.2.3", "192.168.0.0/24"), 90)
    key = client.create_key(spec, passphrase=passphrase, remark="KK-CREATE1")
    assert key.api_secret is not None and len(key.api_secret.reveal()) > 20
    assert key.passphrase == passphrase and not key.secret_lost
    assert key.permissions == {Permission.GENERAL, Permission.SPOT, Permission.FUTURES}
    assert key.ips == ("10.1.2.3", "192.168.0.0/24") and key.remark == "KK-CREATE1"
    assert key.created_at == clock.now() and key.created_at.tzinfo is UTC
    [stored] = sandbox.keys("alpha-trading")
    assert stored["api_key"] == key.api_key and stored["expire"] == "90"
    assert stored["permissions"] == ["General", "Spot", "Futures"]


def test_create_reports_permissions_kucoin_did_not_grant(client: KucoinClient) -> None:
    """Futures asked on a sub-account without futures comes back not granted: the key says what KuCoin gave."""
    spec = KeySpec("beta-spot", SPOT_FUTURES)
    key = client.create_key(spec, passphrase=generate_passphrase(), remark="KK-B")
    assert key.permissions == {Permission.GENERAL, Permission.SPOT}


def test_list_keys_masks_ips_and_filters_by_api_key(client: KucoinClient) -> None:
    """list_keys returns every key of the sub-account with masked IPs; the apiKey filter narrows it."""
    first = client.create_key(KeySpec("alpha-trading", ips=("10.20.30.1",)), passphrase=generate_passphrase(),
                              remark="KK-L1")
    client.create_key(KeySpec("alpha-trading"), passphrase=generate_passphrase(), remark="KK-L2")
    keys = client.list_keys("alpha-trading")
    assert sorted(k.remark for k in keys) == ["KK-L1", "KK-L2"]
    [only] = client.list_keys("alpha-trading", api_key=first.api_key)
    assert only.ips_masked == ("10.**.1",) and only.permissions == {Permission.GENERAL}
    assert only.sub_account == "alpha-trading" and not only.is_master and only.api_version == 3
    assert client.list_keys("delta-research") == []


def test_modify_key_sets_the_complete_state(client: KucoinClient, sandbox: KucoinSandbox) -> None:
    """modify_key replaces permissions, IPs and expiry with the full spec sent."""
    passphrase = generate_passphrase()
    key = client.create_key(KeySpec("alpha-trading", SPOT_FUTURES, ("10.0.0.1",), 30), passphrase=passphrase,
                            remark="KK-M")
    new = KeySpec("alpha-trading", frozenset({Permission.MARGIN}), ("10.0.0.2", "10.0.0.3"), 180)
    modified = client.modify_key(key.api_key, new, passphrase=passphrase)
    assert modified.permissions == {Permission.GENERAL, Permission.MARGIN}
    assert modified.ips == ("10.0.0.2", "10.0.0.3")
    [stored] = sandbox.keys("alpha-trading")
    assert stored["ips"] == ["10.0.0.2", "10.0.0.3"] and stored["expire"] == "180"


def test_modify_with_wrong_passphrase_is_refused(client: KucoinClient) -> None:
    """Modifying needs the key's own passphrase: a wrong one is a validation error."""
    key = client.create_key(KeySpec("alpha-trading"), passphrase=generate_passphrase(), remark="KK-MW")
    with pytest.raises(KucoinValidationError) as info:
        client.modify_key(key.api_key, KeySpec("alpha-trading"), passphrase=Secret("wrong-passphrase"))
    assert info.value.code == "400100" and "Passphrase" in str(info.value)


def test_delete_key_is_idempotent(client: KucoinClient, sandbox: KucoinSandbox) -> None:
    """delete_key returns True when it deleted, False when the key was already gone."""
    passphrase = generate_passphrase()
    key = client.create_key(KeySpec("alpha-trading"), passphrase=passphrase, remark="KK-D")
    assert client.delete_key("alpha-trading", key.api_key, passphrase) is True
    assert sandbox.keys("alpha-trading") == []
    assert client.delete_key("alpha-trading", key.api_key, passphrase) is False


def test_delete_with_wrong_passphrase_raises_and_keeps_the_key(client: KucoinClient,
                                                               sandbox: KucoinSandbox) -> None:
    """A wrong key passphrase is not mistaken for "already gone": the error surfaces, the key stays."""
    key = client.create_key(KeySpec("alpha-trading"), passphrase=generate_passphrase(), remark="KK-DW")
    with pytest.raises(KucoinValidationError):
        client.delete_key("alpha-trading", key.api_key, Secret("not-the-passphrase"))
    assert [k["api_key"] for k in sandbox.keys("alpha-trading")] == [key.api_key]


def test_list_sub_accounts_reads_every_page(clock: FakeClock) -> None:
    """list_sub_accounts follows totalPage with pageSize 100 and returns all 230 sub-accounts."""
    seed = default_seed()
    seed["masters"][0]["sub_accounts"] = [
        {"name": f"sub-{i:03d}", "uid": 300000000 + i, "created_at": 1700000000000 + i,
         "status": 3 if i == 7 else 2}
        for i in range(230)
    ]
    with KucoinSandbox(seed, clock=clock) as sandbox, client_for(sandbox, clock) as client:
        subs = client.list_sub_accounts()
        assert [s.name for s in subs] == [f"sub-{i:03d}" for i in range(230)]
        assert sandbox.call_counts()["GET /api/v2/sub/user"] == 3
        assert [s.name for s in subs if s.frozen] == ["sub-007"]
        assert [r.raw_query for r in sandbox.requests if r.path == "/api/v2/sub/user"][-1] == \
            "currentPage=3&pageSize=100"


def test_seeded_sub_accounts_are_typed(client: KucoinClient) -> None:
    """The seeded sub-accounts come back typed: one frozen, one without futures opened."""
    subs = {s.name: s for s in client.list_sub_accounts()}
    assert set(subs) == {"alpha-trading", "beta-spot", "gamma-frozen", "delta-research"}
    assert subs["gamma-frozen"].frozen and not subs["alpha-trading"].frozen
    assert "Futures" not in subs["beta-spot"].opened_trade_types
    assert subs["alpha-trading"].created_at.tzinfo is UTC


def test_generate_passphrase_shape() -> None:
    """Generated passphrases are 20-32 characters of [A-Za-z0-9] and never repeat."""
    allowed = set(string.ascii_letters + string.digits)
    values = [generate_passphrase().reveal() for _ in range(300)]
    assert all(20 <= len(v) <= 32 and set(v) <= allowed for v in values)
    assert len(set(values)) == 300
    assert {len(v) for v in values} >= {20, 32}


def test_client_works_with_an_injected_http_client(make_client: MakeClient) -> None:
    """An injected httpx.Client is used and left open for its owner to close."""
    with httpx.Client() as http:
        client = make_client(http=http)
        assert client.whoami().is_master
        client.close()
        assert not http.is_closed
