"""The KuCoin checks against the KuCoin sandbox: the master key and KuCoin's clock."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.clock import FakeClock, SystemClock
from bot.domain.keys import KeySpec, Permission
from bot.kucoin.client import KucoinClient
from bot.kucoin.models import generate_passphrase
from bot.preflight import Status, run_preflight
from kukey_sandbox.kucoin.sandbox import KucoinSandbox
from kukey_sandbox.world import KukeyWorld
from tests.preflight.conftest import by_check, only_problem, seed_with

KUCOIN = ("kucoin key", "kucoin clock")


def test_a_wrong_api_secret_fails_without_showing_it(env: dict[str, str]) -> None:
    """A wrong API secret fails the key check with KuCoin's refusal, and never prints the secret."""
    env["KUCOIN_API_SECRET"] = "11111111-2222-3333-4444-555555555555"
    result = only_problem(run_preflight(env=env, checks=KUCOIN))
    # The secret also signs the passphrase (key version 2), so KuCoin refuses that first.
    assert result.lines()[0] == ("FAIL kucoin key: KuCoin refused GET /api/v1/user/api-key: "
                                 "KuCoin rejected the API passphrase (code 400004).")
    assert "KUCOIN_API_SECRET" in result.fix
    assert "11111111-2222" not in "\n".join(result.lines())


def test_a_sub_account_key_is_not_the_master_key(env: dict[str, str], world: KukeyWorld) -> None:
    """A sub-account's own key authenticates but fails: kukey needs the master account's key."""
    creds = world.sandbox.master_credentials
    with KucoinClient(base_url=world.sandbox.url, api_key=creds.api_key, api_secret=creds.api_secret,
                      api_passphrase=creds.api_passphrase, clock=FakeClock(datetime.now(UTC))) as master:
        passphrase = generate_passphrase()
        created = master.create_key(KeySpec("delta-research", frozenset({Permission.GENERAL})),
                                    passphrase=passphrase, remark="preflight-test")
    assert created.api_secret is not None
    env.update(KUCOIN_API_KEY=created.api_key, KUCOIN_API_SECRET=created.api_secret.reveal(),
               KUCOIN_API_PASSPHRASE=passphrase.reveal())
    assert only_problem(run_preflight(env=env, checks=KUCOIN)).lines()[0] == (
        f"FAIL kucoin key: key {created.api_key} is a sub-account key, not the master account's")


@pytest.mark.parametrize(("permissions", "status", "detail"), [
    (["Spot"], Status.FAIL, "lacks the General permission (has Spot)"),
    (["General", "Spot", "Transfer"], Status.WARN, "has more than kukey needs: Spot, Transfer"),
    (["General"], Status.OK, "with General only"),
])
def test_the_master_key_has_general_and_nothing_more(env: dict[str, str], permissions: list[str], status: Status,
                                                     detail: str) -> None:
    """Without General the key check fails; with more than General it warns (kukey never trades or moves
    funds with the master key); with General alone it passes."""
    with KucoinSandbox(seed=seed_with(permissions)) as sandbox:
        env["KUCOIN_API_URL"] = sandbox.url
        result = by_check(run_preflight(env=env, checks=KUCOIN))["kucoin key"]
    assert (result.status, result.detail.endswith(detail)) == (status, True), result.lines()


def test_an_unreachable_kucoin_fails_once(env: dict[str, str]) -> None:
    """A KuCoin that does not answer fails the key check; the clock check is skipped, not failed again."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    env["KUCOIN_API_URL"] = url
    report = run_preflight(env=env, checks=KUCOIN)
    assert [r.lines() for r in report.results] == [
        ["FAIL kucoin key: Could not connect to KuCoin for GET /api/v1/timestamp.",
         f"  fix: check KUCOIN_API_URL ({url}) and the network"],
        ["SKIP kucoin clock: needs an answer from KuCoin (see kucoin key)"]]


@pytest.mark.parametrize(("skew_ms", "status", "where"), [(3000, Status.WARN, "behind"),
                                                           (-8000, Status.FAIL, "ahead of")])
def test_kucoins_clock_warns_past_1_s_and_fails_past_5_s(env: dict[str, str], world: KukeyWorld, skew_ms: int,
                                                         status: Status, where: str) -> None:
    """KuCoin's clock 3 s ahead of this host warns, 8 s behind it fails; both advise NTP."""
    world.sandbox.set_clock_skew(skew_ms)
    result = by_check(run_preflight(env=env, checks=KUCOIN))["kucoin clock"]
    assert result.status == status
    assert result.detail.startswith(f"this host is {abs(skew_ms) // 1000}.")
    assert result.detail.endswith(f" s {where} KuCoin")
    assert result.fix.startswith("sync this host's clock with NTP")


def test_a_slow_answer_from_kucoin_is_no_clock_problem(env: dict[str, str], world: KukeyWorld) -> None:
    """Clocks in step, KuCoin's time answered 2.5 s late (read as it answers): KuCoin read its clock somewhere
    within the call, so its midpoint is only known to within half the round trip and only what is certain
    counts (a slow call on a loaded host failed `kukey run` with "this host is 5.5 s ahead of KuCoin")."""
    world.sandbox.set_latency(2.5, path="/api/v1/timestamp")
    result = by_check(run_preflight(env=env, checks=KUCOIN))["kucoin clock"]
    assert result.status == Status.OK, result.lines()
    assert re.fullmatch(r"this host is within [0-9.]+ s of KuCoin", result.detail), result.detail
    assert float(result.detail.split()[4]) >= 2.5  # the offset read (~1.25 s) plus half the round trip


def test_kucoin_settings_need_only_their_own_variables(env: dict[str, str]) -> None:
    """A missing KuCoin key is one FAIL line naming it; KuCoin's clock is still read (it needs only the URL)."""
    del env["KUCOIN_API_KEY"]
    results = by_check(run_preflight(env=env, checks=KUCOIN))
    assert results["kucoin key"].lines()[0] == (
        "FAIL kucoin key: KUCOIN_API_KEY is not set: the master account's API key (or KUCOIN_API_KEY_FILE)")
    assert results["kucoin clock"].status == Status.OK


def test_a_kucoin_whose_certificate_is_not_trusted_says_so(tmp_path: Path) -> None:
    """A server at KUCOIN_API_URL whose certificate this host does not trust (a TLS-inspecting proxy whose CA
    kukey lacks) fails the key check once, naming the certificate, not the network; the fix says where kukey
    takes its CAs from, and the clock check waits for it."""
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock(), kucoin_tls=True,
                    sandbox_kwargs={"seed": seed_with(["General"])}) as world:
        env = {k: v for k, v in world.env().items() if k != "SSL_CERT_FILE"}
        report = run_preflight(env=env, checks=KUCOIN)
        assert by_check(report)["kucoin key"].lines() == [
            f"FAIL kucoin key: KuCoin's TLS certificate at {world.sandbox.url} is not trusted here (unable to get "
            "local issuer certificate).",
            "  fix: if a proxy inspects TLS on this network, point SSL_CERT_FILE (or SSL_CERT_DIR) at a CA bundle "
            f"that includes its CA; otherwise check KUCOIN_API_URL ({world.sandbox.url}): the server there is not "
            "one kukey can trust"]
        assert by_check(report)["kucoin clock"].status == Status.SKIP
        assert world.sandbox.call_counts() == {}
