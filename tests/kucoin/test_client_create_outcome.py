"""A create whose answer is lost is never sent twice: found again by its remark, or its outcome is unknown."""

from __future__ import annotations

from dataclasses import replace

from bot.domain.keys import KeySpec, Permission
from bot.errors import KucoinOutcomeUnknown
from bot.kucoin import KucoinClient, generate_passphrase
from kukey_sandbox.kucoin import KucoinSandbox
from tests.kucoin.conftest import MakeClient
from tests.kucoin.helpers import FAST, Sleeps

CREATE = "POST /api/v1/sub/api-key"
PATH = "/api/v1/sub/api-key"
SPEC = KeySpec("alpha-trading", frozenset({Permission.SPOT}), ("10.1.2.3",), 30)


def test_dropped_answer_after_commit_is_recovered_by_remark(client: KucoinClient,
                                                            sandbox: KucoinSandbox) -> None:
    """KuCoin creates the key but the connection drops: the one key is returned, marked secret lost."""
    sandbox.drop_next(path=PATH, method="POST", commit=True)
    passphrase = generate_passphrase()
    key = client.create_key(SPEC, passphrase=passphrase, remark="KK-LOST1")
    [stored] = sandbox.keys("alpha-trading")
    assert key.api_key == stored["api_key"] and key.remark == "KK-LOST1"
    assert key.secret_lost is True and key.api_secret is None
    assert key.passphrase == passphrase and key.permissions == {Permission.GENERAL, Permission.SPOT}
    assert key.ips == ("10.1.2.3",)
    assert sandbox.call_counts()[CREATE] == 1


def test_timeout_after_commit_is_recovered_by_remark(make_client: MakeClient, sandbox: KucoinSandbox) -> None:
    """KuCoin creates the key but answers too late (read timeout): the key is found, not created twice."""
    client = make_client(policy=replace(FAST, timeout=0.3))
    client.whoami()
    sandbox.drop_next(path=PATH, method="POST", commit=True, hang=3.0)
    key = client.create_key(SPEC, passphrase=generate_passphrase(), remark="KK-SLOW")
    assert key.secret_lost and [k["api_key"] for k in sandbox.keys("alpha-trading")] == [key.api_key]
    assert sandbox.call_counts()[CREATE] == 1


def test_5xx_before_commit_ends_in_outcome_unknown(client: KucoinClient, sandbox: KucoinSandbox,
                                                   sleeps: Sleeps) -> None:
    """A 500 for a create is not retried; a bounded re-check finds nothing: OutcomeUnknown, zero keys."""
    sandbox.fail_next(path=PATH, method="POST", status=500, code="500000")
    err = _outcome_unknown(client, remark="KK-GONE")
    assert sandbox.keys("alpha-trading") == []
    assert sandbox.call_counts()[CREATE] == 1
    assert sandbox.call_counts()["GET /api/v1/sub/api-key"] == client.policy.recheck_attempts
    assert sleeps.waits == [client.policy.recheck_delay] * (client.policy.recheck_attempts - 1)
    assert err.path == PATH and "KK-GONE" in str(err) and "alpha-trading" in str(err)


def test_dropped_connection_before_commit_ends_in_outcome_unknown(client: KucoinClient,
                                                                  sandbox: KucoinSandbox) -> None:
    """The connection drops before KuCoin acts: the create is not repeated and nothing is created."""
    sandbox.drop_next(path=PATH, method="POST", commit=False)
    _outcome_unknown(client, remark="KK-NONE")
    assert sandbox.keys("alpha-trading") == []
    assert sandbox.call_counts()[CREATE] == 1


def test_recheck_failures_still_end_in_outcome_unknown(client: KucoinClient, sandbox: KucoinSandbox) -> None:
    """If KuCoin stays down during the re-check too, the create is reported as unknown, never retried."""
    client.whoami()
    sandbox.fail_next(100, status=503, code="503000")
    _outcome_unknown(client, remark="KK-DOWN")
    assert sandbox.call_counts()[CREATE] == 1


def test_rate_limited_create_is_safely_retried(client: KucoinClient, sandbox: KucoinSandbox) -> None:
    """A 429000 means KuCoin did not act, so the create is sent again and yields its secret."""
    client.whoami()
    sandbox.rate_limit_next(1, headers=True, path=PATH)
    key = client.create_key(SPEC, passphrase=generate_passphrase(), remark="KK-429")
    assert key.api_secret is not None and not key.secret_lost
    assert sandbox.call_counts()[CREATE] == 2 and len(sandbox.keys("alpha-trading")) == 1


def _outcome_unknown(client: KucoinClient, *, remark: str) -> KucoinOutcomeUnknown:
    try:
        client.create_key(SPEC, passphrase=generate_passphrase(), remark=remark)
    except KucoinOutcomeUnknown as exc:
        return exc
    raise AssertionError("create_key did not raise KucoinOutcomeUnknown")
