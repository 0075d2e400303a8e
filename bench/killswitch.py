"""Issue 16, point 4: the desk-wide kill switch. `/kukey revoke everything` of 500 keys across 100
sub-accounts, timed from the responder's submission (TOTP and the typed count) until the last key is gone
at the sandbox, next to the floor KuCoin's Management pool sets: 2000 weight per window, 30 per delete, so
66 deletes per window and ceil(500 / 66) = 8 windows, the last delete one call after the 8th opens.

The sandbox runs the pool with a shorter window (`kill_window`, 3 s instead of 30 s) so that the run takes
seconds; the ratio to the floor is what counts. Also measured: 429 answers (none allowed) and the largest
gap between two changes of the progress message (at most 5 s), watched from the Slack fake. Neither is
polled: a thread waits on the sandbox, woken at each removal, and the progress message is read each time
the Slack fake's workspace changes.

Setup, not measured: the keys are created at the sandbox through kukey's client and recorded in kukey's
database (kukey_sandbox.seeding); the bench waits one window before it starts kukey (the seeding may have
spent the last one, and kukey's start-up checks call KuCoin), and one more before the kill switch, so that
it starts afresh.
"""

from __future__ import annotations

import itertools
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import pg
from bench.config import Config
from bench.revoke import BUDGET, DELETE_WEIGHT, floor_s
from bench.scene import Scene, wait_until
from bot.slack import ids
from kukey_sandbox import seeding
from kukey_sandbox.world import INCIDENT, RESPONDER

DELETE_PATH = "/api/v1/sub/api-key"
PROGRESS_GAP_S = 5.0


def run(cfg: Config, home: Path) -> dict[str, Any]:
    subs = [f"desk{i:04d}" for i in range(cfg.kill_subs)]
    per_sub = math.ceil(cfg.kill_keys / cfg.kill_subs)
    with Scene(home, keys_per_sub=max(per_sub, 5), window_seconds=cfg.kill_window, more_sub_accounts=subs,
               database_url=pg.database_url(cfg)) as scene:
        keys = _seed(scene, subs, cfg.kill_keys)
        _fresh_window(cfg.kill_window)
        scene.sandbox.set_latency(cfg.kill_latency, path=DELETE_PATH)
        scene.start_bot()
        scene.wait_started()
        scene.world.enroll(RESPONDER)
        out: dict[str, Any] = {
            "keys": len(keys), "sub_accounts": len(subs), "window_s": cfg.kill_window,
            "kucoin_latency_s": cfg.kill_latency,
            "pool": f"Management: {BUDGET} per {cfg.kill_window:g} s (KuCoin: 30 s), {DELETE_WEIGHT} per delete",
            "windows": math.ceil(len(keys) / (BUDGET // DELETE_WEIGHT)),
            "floor_s": round(floor_s(len(keys), cfg.kill_latency, window=cfg.kill_window), 3)}
        out.update(pull(scene, keys, cfg.kill_window))
        out["vs_floor"] = round(out["last_key_gone_s"] / out["floor_s"], 3)
        return out


def _fresh_window(window: float) -> None:
    """Until the sandbox's pool window that the calls so far may have spent has passed."""
    idle_until = time.monotonic() + window + 0.5
    wait_until(lambda: time.monotonic() > idle_until, window + 5, "a fresh window", every=0.05)


def _seed(scene: Scene, subs: list[str], count: int) -> dict[str, str]:
    """`count` keys spread over `subs`, as kukey's own; api key -> sub-account."""
    keys: dict[str, str] = {}
    for i, sub in enumerate(subs):
        share = count // len(subs) + (1 if i < count % len(subs) else 0)
        keys.update({k: sub for k in seeding.seed_keys(scene.world, sub, share, remark="KILL")})
    return keys


def pull(scene: Scene, keys: dict[str, str], window: float) -> dict[str, Any]:
    """`/kukey revoke everything`, the count and the code; then watch the keys and the progress message."""
    world, fake, sandbox = scene.world, scene.fake, scene.sandbox
    ack = world.driver.slash(RESPONDER, INCIDENT, "revoke everything benchmark incident")
    assert ack.ok, ack
    fake.wait_for(lambda: (m := fake.modal(RESPONDER)) is not None
                  and m.spec.get("callback_id") == ids.KILL_SWITCH_VIEW, timeout=10, what="the kill switch form")
    code = world.code(RESPONDER)
    _fresh_window(window)  # the start-up calls' window has passed
    answers_before, calls_before = sandbox.answer_counts(), sandbox.call_counts()
    started = time.perf_counter()
    submitted = world.driver.submit(RESPONDER, {ids.COUNT_BLOCK: str(len(keys)), "code": code})
    acked = time.perf_counter() - started
    assert not submitted.errors, submitted.errors
    with ThreadPoolExecutor(1, thread_name_prefix="bench-keys-gone") as waiter:
        gone = waiter.submit(_last_key_gone, sandbox, keys, started, 600)
        watch = _Watch(scene, gone, started)
        fake.wait_for(watch.done, 600, "the kill switch done")
    answers = _diff(sandbox.answer_counts(), answers_before)
    calls = _diff(sandbox.call_counts(), calls_before)
    gaps = [b - a for a, b in itertools.pairwise(watch.changes)]
    return {"ack_s": round(acked, 4), "last_key_gone_s": round(watch.gone_at, 3),
            "report_done_s": round(watch.changes[-1], 3), "deletes_sent": calls.get(f"DELETE {DELETE_PATH}", 0),
            "answers_429": answers.get("429000", 0), "progress_changes": len(watch.changes),
            "largest_progress_gap_s": round(max(gaps, default=0.0), 3), "kucoin_answers": answers}


def _last_key_gone(sandbox: Any, keys: dict[str, str], started: float, timeout: float) -> float:
    """Seconds from `started` until the last of `keys` (api key -> sub-account) is gone at the sandbox: one
    sub-account after the other, each wait woken by the sandbox at each removal."""
    by_sub: dict[str, set[str]] = {}
    for key, sub in keys.items():
        by_sub.setdefault(sub, set()).add(key)
    deadline = time.monotonic() + timeout
    for sub, left in by_sub.items():
        assert sandbox.wait_keys_gone(sub, left, max(0.0, deadline - time.monotonic())), f"keys left in {sub}"
    return time.perf_counter() - started


class _Watch:
    """Read by the Slack fake's wait_for at each change of its workspace: when the progress message changed;
    done once it says so and the last key is gone."""

    def __init__(self, scene: Scene, gone: Future[float], started: float) -> None:
        self.scene, self.gone, self.started = scene, gone, started
        self.changes: list[float] = []  # seconds after the submission at which the post appeared or changed
        self._edits = -1
        self._ts = ""

    @property
    def gone_at(self) -> float:
        return self.gone.result()

    def done(self) -> bool:
        post = self._post()
        if post is not None and post.edits != self._edits:
            self._edits = post.edits
            self.changes.append(time.perf_counter() - self.started)
        return self.gone.done() and post is not None and "Kill switch* done" in post.content

    def _post(self) -> Any:
        fake = self.scene.fake
        if not self._ts:
            found = next((m for m in fake.messages(INCIDENT) if "Kill switch" in m.content), None)
            self._ts = found.ts if found is not None else ""
        return fake.message(INCIDENT, self._ts) if self._ts else None


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
