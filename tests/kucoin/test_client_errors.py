"""KuCoin's refusals become kukey's typed errors, each with code, HTTP status, path and a plain sentence."""

from __future__ import annotations

import httpx
import pytest

from bot.domain.clock import FakeClock
from bot.domain.keys import KeySpec
from bot.domain.secret import Secret
from bot.errors import (
    KucoinAuthError,
    KucoinError,
    KucoinPermissionError,
    KucoinUnavailable,
    KucoinValidationError,
)
from bot.kucoin import KucoinClient, generate_passphrase
from kukey_sandbox.kucoin import KucoinSandbox
from kukey_sandbox.kucoin.state import default_seed
from tests.kucoin.conftest import MakeClient
from tests.kucoin.helpers import Sleeps, client_for


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"api_key": "000000000000000000000000"}, "400003"),
        ({"api_passphrase": Secret("not-the-passphrase")}, "400004"),
        ({"api_secret": Secret("00000000-0000-0000-0000-000000000000")}, "400004"),
    ],
)
def test_bad_master_credentials_are_auth_errors(make_client: MakeClient, override: dict[str, object],
                                                code: str) -> None:
    """Unknown key or wrong passphrase/secret raise KucoinAuthError with KuCoin's code and HTTP 401."""
    client = make_client(**override)
    with pytest.raises(KucoinAuthError) as info:
        client.whoami()
    err = info.value
    assert (err.code, err.http_status, err.path) == (code, 401, "/api/v1/user/api-key")
    assert str(err).startswith("KuCoin refused GET /api/v1/user/api-key:")


def test_tampered_request_is_a_signature_error(make_client: MakeClient) -> None:
    """A request changed after signing (a query parameter added in transit) is refused with 400005."""

    def tamper(request: httpx.Request) -> None:
        request.url = request.url.copy_add_param("extra", "1")

    with httpx.Client(event_hooks={"request": [tamper]}) as http:
        client = make_client(http=http)
        with pytest.raises(KucoinAuthError) as info:
            client.list_keys("alpha-trading")
    assert info.value.code == "400005"
    assert "signature" in str(info.value)


def test_ip_whitelist_and_permission_errors(make_client: MakeClient) -> None:
    """A sub-account key is refused off its IP whitelist (400006) and may not manage keys (400007)."""
    master = make_client()
    p1, p2 = generate_passphrase(), generate_passphrase()
    fenced = master.create_key(KeySpec("alpha-trading", ips=("10.9.9.9",)), passphrase=p1, remark="KK-IP")
    open_key = master.create_key(KeySpec("alpha-trading"), passphrase=p2, remark="KK-SUB")
    assert fenced.api_secret is not None and open_key.api_secret is not None
    with pytest.raises(KucoinAuthError) as ip_info:
        make_client(api_key=fenced.api_key, api_secret=fenced.api_secret, api_passphrase=p1).whoami()
    assert ip_info.value.code == "400006" and "whitelist" in str(ip_info.value)
    sub = make_client(api_key=open_key.api_key, api_secret=open_key.api_secret, api_passphrase=p2)
    assert sub.whoami().is_master is False
    with pytest.raises(KucoinPermissionError) as perm:
        sub.list_sub_accounts()
    assert (perm.value.code, perm.value.http_status) == ("400007", 403)


def test_frozen_master_account_is_an_auth_error(clock: FakeClock) -> None:
    """A frozen account answers 411100, raised as KucoinAuthError."""
    seed = default_seed()
    seed["masters"][0]["frozen"] = True
    with (KucoinSandbox(seed, clock=clock) as sandbox, client_for(sandbox, clock) as client,
          pytest.raises(KucoinAuthError) as info):
        client.whoami()
    assert info.value.code == "411100" and "frozen" in str(info.value)


@pytest.mark.parametrize(
    ("sub", "remark", "reason"),
    [
        ("alpha-trading", "R" * 25, "remark must be 1-24 characters"),
        ("gamma-frozen", "KK-F", "Sub-account is frozen"),
        ("no-such-sub", "KK-N", "Sub-account does not exist"),
    ],
)
def test_parameter_errors_carry_kucoins_message(client: KucoinClient, sub: str, remark: str,
                                                reason: str) -> None:
    """A 400100 raises KucoinValidationError whose message carries KuCoin's own reason."""
    with pytest.raises(KucoinValidationError) as info:
        client.create_key(KeySpec(sub), passphrase=generate_passphrase(), remark=remark)
    assert info.value.code == "400100" and info.value.http_status == 400
    assert str(info.value).endswith(reason)


def test_key_cap_per_sub_account_is_a_validation_error(client: KucoinClient, sandbox: KucoinSandbox) -> None:
    """The sixth key of a sub-account is refused (seed cap 5) and nothing is created."""
    for n in range(5):
        client.create_key(KeySpec("delta-research"), passphrase=generate_passphrase(), remark=f"KK-CAP{n}")
    with pytest.raises(KucoinValidationError, match="at most 5"):
        client.create_key(KeySpec("delta-research"), passphrase=generate_passphrase(), remark="KK-CAP5")
    assert len(sandbox.keys("delta-research")) == 5


def test_unreachable_kucoin_is_unavailable_after_bounded_retries(clock: FakeClock, sleeps: Sleeps) -> None:
    """With nothing listening, a call retries a bounded number of times, then raises KucoinUnavailable."""
    sandbox = KucoinSandbox(clock=clock).start()
    url = sandbox.url
    sandbox.stop()
    creds = sandbox.master_credentials
    client = KucoinClient(base_url=url, api_key=creds.api_key, api_secret=creds.api_secret,
                          api_passphrase=creds.api_passphrase, clock=clock, sleep=sleeps)
    with client, pytest.raises(KucoinUnavailable) as info:
        client.server_time()
    assert "Could not connect" in str(info.value)
    assert len(sleeps.waits) == client.policy.max_attempts - 1
    assert all(0 < w <= client.policy.max_delay for w in sleeps.waits)
    assert sum(sleeps.waits) <= client.policy.max_total_wait


def test_unknown_code_is_a_plain_kucoin_error(client: KucoinClient, sandbox: KucoinSandbox) -> None:
    """An answer code kukey does not know raises the base KucoinError with the code and status."""
    sandbox.fail_next(status=400, code="499999")
    with pytest.raises(KucoinError) as info:
        client.whoami()
    assert type(info.value) is KucoinError
    assert (info.value.code, info.value.http_status) == ("499999", 400)


def test_http_200_with_an_error_code_is_not_success(client: KucoinClient, sandbox: KucoinSandbox) -> None:
    """A business error KuCoin sends with HTTP 200 still raises (success needs 2xx AND 200000)."""
    sandbox.fail_next(status=200, code="400100", path="/api/v1/sub/api-key")
    with pytest.raises(KucoinValidationError) as info:
        client.list_keys("alpha-trading")
    assert (info.value.code, info.value.http_status) == ("400100", 200)
