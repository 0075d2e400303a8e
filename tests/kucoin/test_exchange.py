"""KucoinExchange: KuCoin behind the services' Exchange port, answering in domain types, with KuCoin's
own facts (apiKey format, parallel deletes, wire names of permissions) kept inside bot/kucoin."""

from __future__ import annotations

import pytest

from bot.domain.clock import FakeClock
from bot.domain.exchange import CreatedKey, ExchangeKey, SubAccount, UpdatedKey
from bot.domain.keys import KeySpec, Permission
from bot.domain.secret import Secret
from bot.errors import ExchangeRejected
from bot.kucoin import KucoinClient
from bot.kucoin.exchange import KucoinExchange
from bot.kucoin.wire import permissions_from_wire, permissions_to_wire
from kukey_sandbox.kucoin import KucoinSandbox

SPOT = KeySpec("alpha-trading", frozenset({Permission.SPOT}), ("10.0.0.1",))


@pytest.fixture
def exchange(client: KucoinClient) -> KucoinExchange:
    return KucoinExchange(client)


def test_keys_come_back_as_domain_types(exchange: KucoinExchange, sandbox: KucoinSandbox) -> None:
    """Create, list and delete speak the domain's types: the secret is a Secret, permissions are Permissions,
    and a second delete of the same key answers False (already gone)."""
    passphrase = exchange.new_passphrase()
    created = exchange.create_key(SPOT, passphrase=passphrase, remark="KK-X1")
    assert isinstance(created, CreatedKey) and isinstance(created.secret, Secret) and not created.secret_lost
    assert created.permissions == {Permission.GENERAL, Permission.SPOT}
    assert exchange.list_keys("alpha-trading") == [
        ExchangeKey(created.api_key, "alpha-trading", "KK-X1", created.permissions, created.created_at)]
    assert [k["api_key"] for k in sandbox.keys("alpha-trading")] == [created.api_key]
    assert exchange.delete_key("alpha-trading", created.api_key, passphrase) is True
    assert exchange.delete_key("alpha-trading", created.api_key, passphrase) is False


def test_an_update_sets_ips_and_permissions_and_keeps_the_secret(exchange: KucoinExchange,
                                                                 sandbox: KucoinSandbox) -> None:
    """update_key sends the key's whole new state with its own passphrase and answers in domain types: the
    permissions KuCoin granted (an unopened trade type is not) and the IPs; secret and expiry stay."""
    passphrase = exchange.new_passphrase()
    spec = KeySpec("beta-spot", frozenset({Permission.SPOT}), ("10.0.0.1",), 90)
    created = exchange.create_key(spec, passphrase=passphrase, remark="KK-UPD")
    secret = sandbox.world.keys[created.api_key].api_secret
    wider = KeySpec("beta-spot", frozenset({Permission.SPOT, Permission.FUTURES}), ("10.0.0.2", "10.0.1.0/24"), 90)
    updated = exchange.update_key(created.api_key, wider, passphrase=passphrase)
    assert updated == UpdatedKey(created.api_key, frozenset({Permission.GENERAL, Permission.SPOT}),
                                 ("10.0.0.2", "10.0.1.0/24"))
    after = sandbox.world.keys[created.api_key]
    assert (after.api_secret, after.expire, after.ips) == (secret, "90", ("10.0.0.2", "10.0.1.0/24"))
    with pytest.raises(ExchangeRejected):
        exchange.update_key(created.api_key, wider, passphrase=Secret("not-its-passphrase"))


def test_a_lost_create_answer_comes_back_without_its_secret(exchange: KucoinExchange, sandbox: KucoinSandbox) -> None:
    """When KuCoin created the key but its answer was lost, the key found by its remark has no secret."""
    sandbox.drop_next(1, path="/api/v1/sub/api-key", method="POST")
    created = exchange.create_key(SPOT, passphrase=exchange.new_passphrase(), remark="KK-LOST")
    assert (created.secret, created.secret_lost) == (None, True)
    assert [k.api_key for k in exchange.list_keys("alpha-trading")] == [created.api_key]


def test_a_refused_parameter_is_an_exchange_rejection(exchange: KucoinExchange) -> None:
    """KuCoin's 400100 reaches the services as ExchangeRejected (final), whatever the adapter."""
    with pytest.raises(ExchangeRejected):
        exchange.create_key(KeySpec("no-such-sub"), passphrase=exchange.new_passphrase(), remark="KK-NOPE")


def test_sub_accounts_say_whether_they_are_frozen(exchange: KucoinExchange) -> None:
    """Sub-accounts are listed by name, the frozen one marked."""
    subs = exchange.list_sub_accounts()
    assert SubAccount("gamma-frozen", frozen=True) in subs
    assert SubAccount("alpha-trading", frozen=False) in subs


def test_kucoin_facts_stay_in_the_adapter(exchange: KucoinExchange) -> None:
    """The apiKey shape and the parallel-delete budget (2000 weight per window / 30 per delete) are
    KuCoin's, answered by the adapter."""
    ids = exchange.key_ids
    assert ids.matches("65b2c3d4e5f60718293a4b5c")
    assert not ids.matches("65B2C3D4E5F60718293A4B5C")
    assert ids.matches(ids.normalize("65B2C3D4E5F60718293A4B5C"))
    assert not ids.matches("65b2c3d4e5f60718293a4b5c00112233")
    assert ids.exchange == "KuCoin" and "24 hexadecimal" in ids.description
    assert exchange.max_parallel_deletes == 66
    assert exchange.name == "KuCoin"


def test_permissions_map_to_kucoins_wire_names_and_back() -> None:
    """Permissions go out in kukey's canonical order; names kukey does not manage are ignored coming back."""
    assert permissions_to_wire(frozenset({Permission.MARGIN, Permission.GENERAL, Permission.SPOT})) == \
        "General,Spot,Margin"
    assert permissions_from_wire("spot, General,Transfer,,InnerTransfer") == {
        Permission.SPOT, Permission.GENERAL, Permission.INNER_TRANSFER}


def test_deletes_are_readied_by_one_listing_only_when_the_pool_is_not_known(
        exchange: KucoinExchange, sandbox: KucoinSandbox, clock: FakeClock) -> None:
    """ready_deletes lists the sub-account's keys when the client holds no view of the Management pool (at
    start, and once its window has reset), and does nothing while one is current."""
    def listings() -> int:
        return sandbox.call_counts().get("GET /api/v1/sub/api-key", 0)

    exchange.ready_deletes("alpha-trading", 1)
    assert listings() == 1 and exchange.delete_wait(66) == 0  # a whole window's deletes may go at once
    exchange.ready_deletes("alpha-trading", 1)
    assert listings() == 1
    clock.advance(31)  # the window is over: what the client knew of it says nothing now
    exchange.ready_deletes("alpha-trading", 1)
    assert listings() == 2


def test_a_failed_listing_leaves_the_deletes_to_probe(exchange: KucoinExchange, sandbox: KucoinSandbox) -> None:
    """ready_deletes raises nothing: KuCoin failing the listing leaves the pool unknown, as before it."""
    sandbox.fail_next(100, status=503, code="503000", path="/api/v1/sub/api-key")
    exchange.ready_deletes("alpha-trading", 1)
    assert exchange.client.learn_budget("alpha-trading")  # still unknown: it would list again
