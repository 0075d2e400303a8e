"""Issue 8, point 5: an incident revoke of every key in one sub-account (50 keys), each KuCoin call taking
100 ms, timed from the responder's TOTP submission (the moment the revoke is commanded) until the last key
is gone at the sandbox; next to the floor KuCoin's Management pool and the call latency allow.

Setup, not measured: the keys are created at the sandbox through the official client and their records
(passphrases sealed with the master key, aad "key:<api_key>") written into kukey's database. Those creates
spend the sandbox's Management window, so the sandbox's clock then moves past it: kukey starts in a fresh
window and syncs its clock offset with KuCoin's server time, as it does against the real exchange.

"warm": kukey talked to KuCoin less than a window ago, so its rate gate knows the budget left.
"cold": after a full idle window its view has expired. The pool is per account, shared with kukey's other
replicas and any other client of the account, so kukey learns the budget before spending it (a delete
refused with 429 would wait for the next window): since 2026-12-02 it lists the sub-account's keys while the
responder types the code (Revoker.prepare), before that the first delete probed the budget alone. When the
code comes faster than KuCoin answers that listing, the least time is one call more than the floor,
`probe_floor_s`, reported next to the floor.

"stand_in": the same deletes with no HTTP client at all (bench.direct.delete_raw): connected beforehand,
written from one thread, the least this machine's sandbox lets anything reach. "direct_client": kukey's
KuCoin client alone in a process of its own (bench.direct.delete_all).

The responder types the code `revoke_typing` seconds after the form opened (a person reading six digits off
an authenticator and typing them takes seconds; 1 s is a fast one); the time is counted from the submission.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import direct, pg
from bench.config import Config
from bench.scene import Scene, wait_until
from bot.domain.secret import Secret
from bot.kucoin.ratelimit import MANAGEMENT_POOL_BUDGET
from bot.kucoin.transport import DELETE_KEY
from bot.slack import ids
from kukey_sandbox import seeding
from kukey_sandbox.world import INCIDENT, RESPONDER

WINDOW_S = 30.0
BUDGET = MANAGEMENT_POOL_BUDGET
DELETE_WEIGHT = DELETE_KEY.weight
LIST_SUB_ACCOUNTS = "GET /api/v2/sub/user"
SANDBOX_SWITCH_INTERVAL = 0.0005  # seconds (see quick_handovers)
STAND_IN_SUB = "epsilon-floor"  # the stand-in's floor deletes its own keys (bench.direct.delete_raw)
CASES = ("stand_in", "direct_client", "warm", "cold")


class ShiftedClock:
    """The real clock plus an offset that can be moved forward (the sandbox's KuCoin time)."""

    def __init__(self, offset_s: float = 0.0) -> None:
        self._offset = timedelta(seconds=offset_s)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def shift(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)


def floor_s(keys: int, latency: float, *, budget: int = BUDGET, weight: int = DELETE_WEIGHT,
            window: float = WINDOW_S) -> float:
    """The least time `keys` deletes can take: as many per window as the budget allows, all at once,
    each taking `latency`: (windows - 1) full windows plus one call."""
    per_window = budget // weight
    return (math.ceil(keys / per_window) - 1) * window + latency


@contextlib.contextmanager
def quick_handovers(seconds: float = SANDBOX_SWITCH_INTERVAL) -> Iterator[None]:
    """This process serves KuCoin (the sandbox, a handler thread per connection): with 50 deletes arriving
    at once, each handler waits for the GIL after every read, up to the interpreter's switch interval
    (5 ms) while another holds it. KuCoin is not a Python process; a shorter interval keeps the stand-in
    from being what the revoke waits for."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def run(cfg: Config, home: Path) -> dict[str, Any]:
    with quick_handovers():
        return _run(cfg, home)


def _run(cfg: Config, home: Path) -> dict[str, Any]:
    # The seeding and the floors' deletes happen three windows in the sandbox's past, so kukey starts in a
    # fresh window with KuCoin's clock back on the real one (`kukey run` refuses a clock 5 s off).
    clock = ShiftedClock(-3 * (WINDOW_S + 1))
    subs = ["alpha-trading", *(["delta-research"] if cfg.revoke_cold else [])]
    with Scene(home, keys_per_sub=cfg.revoke_keys + 10, sandbox_clock=clock, more_sub_accounts=[STAND_IN_SUB],
               database_url=pg.database_url(cfg)) as scene:
        seeded = {sub: seed_keys(scene, sub, cfg.revoke_keys, clock) for sub in subs}
        direct_keys = seed_keys(scene, "beta-spot", cfg.revoke_keys, clock, record=False)
        raw_keys = seed_keys(scene, STAND_IN_SUB, cfg.revoke_keys, clock, record=False)
        scene.sandbox.set_latency(cfg.revoke_latency)
        clock.shift(WINDOW_S + 1)  # the seeding's creates spent this window
        stand_in = direct_deletes(scene, STAND_IN_SUB, raw_keys, raw=True)
        clock.shift(WINDOW_S + 1)  # the stand-in's floor the next one
        direct = direct_deletes(scene, "beta-spot", direct_keys)
        clock.shift(WINDOW_S + 1)  # and the direct deletes the next one: kukey starts in a fresh window
        listed = scene.sandbox.call_counts().get(LIST_SUB_ACCOUNTS, 0)
        scene.start_bot()
        scene.wait_started()
        wait_until(lambda: started_up(scene.sandbox, listed), 30, "kukey's start-up calls answered")
        started = time.monotonic()
        scene.world.enroll(RESPONDER)
        out: dict[str, Any] = {"keys": cfg.revoke_keys, "kucoin_latency_s": cfg.revoke_latency,
                               "floor_s": floor_s(cfg.revoke_keys, cfg.revoke_latency),
                               "probe_floor_s": floor_s(cfg.revoke_keys, cfg.revoke_latency) + cfg.revoke_latency,
                               "pool": f"Management: {BUDGET} per {WINDOW_S:g} s, {DELETE_WEIGHT} per delete",
                               "stand_in": stand_in, "direct_client": direct,
                               "typing_s": cfg.revoke_typing,
                               "warm": revoke_all(scene, subs[0], set(seeded[subs[0]]), typing=cfg.revoke_typing)}
        if cfg.revoke_cold:
            idle_until = started + WINDOW_S + 1  # kukey's last answer said the window resets before this
            wait_until(lambda: time.monotonic() > idle_until, WINDOW_S + 5, "an idle window", every=0.1)
            out["cold"] = revoke_all(scene, subs[1], set(seeded[subs[1]]), typing=cfg.revoke_typing)
        for case in CASES:
            if case in out:
                out[case]["vs_floor"] = round(out[case]["last_key_gone_s"] / out["floor_s"], 2)
        if "cold" in out:
            out["cold"]["vs_probe_floor"] = round(out["cold"]["last_key_gone_s"] / out["probe_floor_s"], 2)
        return out


def started_up(sandbox: Any, listed_before: int) -> bool:
    """kukey has listed the sub-accounts (its last start-up call) and every call has its answer: its rate
    gate has heard the pool, as "warm" means (a revoke sent earlier would wait for that first answer)."""
    answered = sum(sandbox.answer_counts().values()) >= sum(sandbox.call_counts().values())
    return answered and sandbox.call_counts().get(LIST_SUB_ACCOUNTS, 0) > listed_before


def direct_deletes(scene: Scene, sub: str, keys: dict[str, Secret], *, raw: bool = False) -> dict[str, Any]:
    """The same deletes from the bare client in its own process, or with no client at all if `raw` (see
    bench.direct), timed the same way."""
    sandbox, creds = scene.sandbox, scene.sandbox.master_credentials
    before = sandbox.answer_counts()
    proc = direct.run_in_process({"url": sandbox.url, "sub_account": sub,
                                  "credentials": [creds.api_key, creds.api_secret.reveal(),
                                                  creds.api_passphrase.reveal()],
                                  "keys": [[k, p.reveal()] for k, p in keys.items()], "raw": raw})
    assert sandbox.wait_keys_gone(sub, keys, 120), "the direct deletes left keys behind"
    gone = time.perf_counter()
    times = direct.result(proc)
    return {"last_key_gone_s": round(gone - times["started"], 4),
            "all_answered_s": round(times["all_answered"] - times["started"], 4),
            "answers_429": _diff(sandbox.answer_counts(), before).get("429000", 0)}


def revoke_all(scene: Scene, sub: str, keys: set[str], *, typing: float) -> dict[str, Any]:
    """`/kukey revoke <sub> all` in the incident channel, the TOTP code `typing` seconds after the form opened,
    then wait for every key to be gone."""
    world, fake, sandbox = scene.world, scene.fake, scene.sandbox
    ack = world.driver.slash(RESPONDER, INCIDENT, f"revoke {sub} all benchmark incident")
    assert ack.ok, ack
    fake.wait_for(lambda: (m := fake.modal(RESPONDER)) is not None and m.spec.get("callback_id") == ids.REVOKE_VIEW,
                  timeout=10, what="the incident revoke modal")
    typed = time.monotonic() + typing
    wait_until(lambda: time.monotonic() >= typed, typing + 5, "the responder typing the code")
    code = world.code(RESPONDER)
    answers_before, calls_before = sandbox.answer_counts(), sandbox.call_counts()
    announced_before = len(fake.messages(INCIDENT))
    started = time.perf_counter()
    submitted = world.driver.submit(RESPONDER, {"code": code})
    acked = time.perf_counter() - started
    assert not submitted.errors, submitted.errors
    assert sandbox.wait_keys_gone(sub, keys, 120), "the revoke left keys behind"
    gone = time.perf_counter() - started
    fake.wait_for(lambda: len(fake.messages(INCIDENT)) > announced_before, timeout=60, what="the announcement")
    announced = time.perf_counter() - started
    answers, calls = _diff(sandbox.answer_counts(), answers_before), _diff(sandbox.call_counts(), calls_before)
    return {"ack_s": round(acked, 4), "last_key_gone_s": round(gone, 4), "announced_s": round(announced, 4),
            "deletes_sent": calls.get("DELETE /api/v1/sub/api-key", 0), "answers_429": answers.get("429000", 0),
            "kucoin_calls": calls, "kucoin_answers": answers}


def seed_keys(scene: Scene, sub: str, count: int, clock: ShiftedClock, *, record: bool = True) -> dict[str, Secret]:
    """`count` keys at the sandbox (official client) and, if `record`, in kukey's database as if kukey had
    made them; returns their passphrases."""
    return seeding.seed_keys(scene.world, sub, count, clock=clock, record=record, remark="BENCH")


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
