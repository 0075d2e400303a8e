"""An incident revoke learns KuCoin's rate pool while the responder types the code (Revoker.prepare), so that
after an idle window its deletes still leave together, not after one delete sent alone to probe the pool."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.clock import SystemClock
from bot.kucoin.ratelimit import RetryPolicy
from bot.slack import ids
from kukey_sandbox import seeding
from kukey_sandbox.world import INCIDENT, RESPONDER, KukeyWorld

WINDOW_S = 4.0  # the sandbox's Management window (KuCoin's is 30 s)
LATENCY_S = 1.0  # each key call's time at the sandbox: longer than the deletes take to arrive together
LIST = "GET /api/v1/sub/api-key"
DELETE = "DELETE /api/v1/sub/api-key"
SUB_ACCOUNTS = "GET /api/v2/sub/user"
TIMESTAMP = "GET /api/v1/timestamp"
RETRIES = RetryPolicy().max_attempts  # a listing KuCoin fails each time: this many attempts, then given up


@pytest.fixture(params=["kukey run", "socket mode in one process"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KukeyWorld]:
    """Real clock, a short Management window; `kukey run --http` in a process of its own (the form's
    preparation and the deletes run in its worker process), or the bot in Socket Mode in this process (no
    worker: both run on its own listener threads)."""
    in_process = request.param != "kukey run"
    with KukeyWorld(home=tmp_path, run_bot=in_process, socket=in_process, clock=SystemClock(),
                    sandbox_kwargs={"window_seconds": WINDOW_S}) as w:
        if not in_process:
            w.start_process()
        w.enroll(RESPONDER)
        yield w


def _answered(world: KukeyWorld) -> bool:
    return sum(world.sandbox.answer_counts().values()) >= sum(world.sandbox.call_counts().values())


def _idle_with_keys(world: KukeyWorld) -> set[str]:
    """Four keys in alpha-trading, key calls taking LATENCY_S, and a window without a call from kukey: every
    view of the pool it had has expired. The keys' ids."""
    world.wait(lambda: world.sandbox.call_counts().get(SUB_ACCOUNTS) and _answered(world), timeout=30,
               what="kukey's start-up calls answered")
    keys = set(seeding.seed_keys(world, "alpha-trading", 4))
    world.sandbox.set_latency(LATENCY_S, path="/api/v1/sub/api-key")
    idle_until = time.monotonic() + WINDOW_S + 1.0
    world.wait(lambda: time.monotonic() > idle_until, timeout=WINDOW_S + 5, what="an idle window")
    return keys


def _listings(world: KukeyWorld) -> int:
    """How many key listings the sandbox has answered (or failed)."""
    return len([e for e in world.sandbox.timeline() if e == ("answer", LIST)])


def _revoke_all(world: KukeyWorld, keys: set[str], *, listings: int, latency: float | None = None) -> list[str]:
    """`/kukey revoke alpha-trading all`; once `listings` more listings were answered while its form is open,
    the code (with `latency`, the key calls' time from then on); every key gone. What the deletes did, in
    order: "call" (arrived) or "answer"."""
    before = _listings(world)
    assert world.driver.slash(RESPONDER, INCIDENT, "revoke alpha-trading all leaked in CI logs").ok
    world.wait(lambda: _listings(world) >= before + listings, timeout=30,
               what="the sub-account's keys listed while the form is open")
    if latency is not None:
        world.sandbox.set_latency(latency, path="/api/v1/sub/api-key")
    start = len(world.sandbox.timeline())
    assert not world.submit(RESPONDER, {"code": world.code(RESPONDER)}, callback_id=ids.REVOKE_VIEW).errors
    world.wait(lambda: not keys & {k["api_key"] for k in world.sandbox.keys("alpha-trading")}, timeout=30,
               what="every key deleted")
    assert world.sandbox.answer_counts().get("429000", 0) == 0
    return [kind for kind, call in world.sandbox.timeline()[start:] if call == DELETE]


def test_an_incident_revoke_after_an_idle_window_sends_its_deletes_together(world: KukeyWorld) -> None:
    """kukey's view of the pool has expired (a window without a call); the revoke's form opens and kukey
    lists the sub-account's keys, which starts a view; with the code, all four deletes reach KuCoin before
    the first is answered. Without the listing the first delete goes alone and the others after its answer."""
    deletes = _revoke_all(world, _idle_with_keys(world), listings=1)
    assert deletes[:5] == ["call"] * 4 + ["answer"], deletes


def test_a_failed_listing_leaves_the_revoke_as_it_was(world: KukeyWorld) -> None:
    """KuCoin fails the form's listing every time kukey tries it (503, as many times as kukey retries): the
    revoke goes as it did before the listing existed: its first delete learns the pool alone, the others
    follow, every key is deleted, never a 429."""
    keys = _idle_with_keys(world)
    world.sandbox.set_latency(0.0, path="/api/v1/sub/api-key")  # the failures come at once (the suite's time)
    world.sandbox.fail_next(RETRIES, status=503, code="503000", path="/api/v1/sub/api-key", method="GET")
    deletes = _revoke_all(world, keys, listings=RETRIES, latency=LATENCY_S)
    assert deletes[:3] == ["call", "answer", "call"], deletes


def test_the_deletes_find_their_connections_opened_while_the_code_is_typed(world: KukeyWorld) -> None:
    """With the form open kukey also opens a connection to KuCoin for each key the revoke will delete (against
    KuCoin: TCP and TLS handshakes): the deletes that follow the code open none."""
    keys = _idle_with_keys(world)
    world.sandbox.set_latency(0.3)  # every call takes time, as at KuCoin: the connections' requests overlap
    times = world.sandbox.call_counts().get(TIMESTAMP, 0)
    assert world.driver.slash(RESPONDER, INCIDENT, "revoke alpha-trading all leaked in CI logs").ok
    world.wait(lambda: world.sandbox.call_counts().get(TIMESTAMP, 0) >= times + len(keys) and _answered(world),
               timeout=30, what="a connection opened for each key while the form is open")
    opened = world.sandbox.connections_opened()
    assert not world.submit(RESPONDER, {"code": world.code(RESPONDER)}, callback_id=ids.REVOKE_VIEW).errors
    world.wait(lambda: not keys & {k["api_key"] for k in world.sandbox.keys("alpha-trading")}, timeout=30,
               what="every key deleted")
    assert world.sandbox.connections_opened() == opened
    assert world.sandbox.answer_counts().get("429000", 0) == 0
