"""Full lifecycles (request, approve, reveal) driven like people through Slack, timed step by step.

A step is timed from the moment a person acts (the signed request leaves the driver) until the last thing
kukey shows for it: the requester's "posted for approval" note, the approver's TOTP modal, the requester's
Reveal offer, the requester's TOTP modal, the secret plus the thread note. Typing codes and finding
buttons (the person's time) is outside the steps; the Slack fake's and the sandbox's own handling is in
them (they answer at once unless a latency is set). Each lifecycle has its own requester and approver,
because a TOTP code is accepted once and the real clock only offers a few steps at a time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import pg
from bench.config import Config
from bench.scene import SUB_ACCOUNTS, Scene
from bench.stats import summary_ms
from bot.slack import ids
from kukey_sandbox.world import APPROVALS, TRADING

STEPS = ("request", "approve_click", "approve", "reveal_click", "reveal")
_REQUEST_ID = re.compile(r"KK-[A-Z0-9]{8}")


@dataclass
class Lifecycle:
    steps: dict[str, float] = field(default_factory=dict)  # seconds, kukey's time per step
    acks: dict[str, float] = field(default_factory=dict)  # seconds, the HTTP ack of each step
    api_key: str = ""

    @property
    def total(self) -> float:
        return sum(self.steps.values())


def cast(scene: Scene, count: int) -> list[tuple[str, str, str]]:
    """(requester, approver, sub-account) for `count` lifecycles: new people, enrolled."""
    requesters = scene.add_people(count, "REQ")
    approvers = scene.add_people(count, "APR", approvers=True)
    return [(r, a, SUB_ACCOUNTS[i % len(SUB_ACCOUNTS)]) for i, (r, a) in enumerate(zip(requesters, approvers,
                                                                                        strict=True))]


def enroll(scene: Scene, users: list[str]) -> None:
    for user in users:
        scene.world.enroll(user)


def run_one(scene: Scene, requester: str, approver: str, sub: str, *, timeout: float) -> Lifecycle:
    w, fake, driver = scene.world, scene.fake, scene.world.driver
    out = Lifecycle()

    def step(name: str, act: Callable[[], Any], done: Callable[[], Any]) -> Any:
        answer = act()  # the driver finds the button, builds the payload, signs it and sends it: Slack's part
        started = answer.sent_at  # the moment the request left for kukey
        assert started is not None, name
        out.acks[name] = time.perf_counter() - started
        if answer.errors:
            raise AssertionError(f"{name}: {answer.errors}")
        result = fake.wait_for(done, timeout=timeout, what=f"{name} of {requester}")
        out.steps[name] = time.perf_counter() - started
        return result

    text = f"create {sub} perms=Spot ips=203.0.113.5 expire=30 benchmark lifecycle"
    note = step("request", lambda: driver.slash(requester, TRADING, text),
                lambda: _private(fake, requester, "was posted for approval"))
    found = _REQUEST_ID.search(note.content)
    assert found, note.content
    post = fake.first_message(APPROVALS, lambda m: found.group(0) in m.content)
    assert post is not None, found.group(0)
    step("approve_click", lambda: driver.click(approver, "Approve", channel=APPROVALS, ts=post.ts),
         lambda: _modal(fake, approver, ids.APPROVE_VIEW))
    code = w.code(approver)
    step("approve", lambda: driver.submit(approver, {"code": code}),
         lambda: _private(fake, requester, "was approved by"))
    step("reveal_click", lambda: driver.click(requester, "Reveal key"),
         lambda: _modal(fake, requester, ids.REVEAL_VIEW))
    code = w.code(requester)
    shown = step("reveal", lambda: driver.submit(requester, {"code": code}),
                 lambda: _revealed(fake, requester, post.ts))
    out.api_key = shown
    return out


def run_many(scene: Scene, people: list[tuple[str, str, str]], *, parallel: bool, timeout: float) -> list[Lifecycle]:
    """Every lifecycle, one after another or all at once; raises if any does not complete."""
    if not parallel:
        return [run_one(scene, r, a, s, timeout=timeout) for r, a, s in people]
    with ThreadPoolExecutor(max_workers=len(people)) as pool:
        return list(pool.map(lambda p: run_one(scene, *p, timeout=timeout), people))


def _private(fake: Any, user: str, needle: str) -> Any:
    return fake.first_ephemeral(user, lambda e: needle in e.content)


def _modal(fake: Any, user: str, callback_id: str) -> bool:
    return bool(fake.modal_callback_id(user) == callback_id)


def _revealed(fake: Any, user: str, thread_ts: str) -> str | None:
    """The new api key once the secret is shown AND the thread says the key was created."""
    shown = fake.first_ephemeral(user, lambda e: "Secret" in e.content)
    match = re.search(r"API key:\*? `([0-9a-f]{24})`", shown.content) if shown else None
    if not match:
        return None
    created = f"Key `{match.group(1)}` was created"
    return match.group(1) if fake.first_message(APPROVALS, lambda m: created in m.content,
                                                thread_ts=thread_ts) else None


def run(cfg: Config, home: Path) -> dict[str, Any]:
    """Issue 8, point 3: `cfg.lifecycles` lifecycles one after another, KuCoin and Slack answering at once."""
    with Scene(home, keys_per_sub=100, database_url=pg.database_url(cfg)) as scene:
        people = cast(scene, cfg.lifecycles)
        scene.start_bot()
        scene.wait_started()
        enroll(scene, [u for r, a, _ in people for u in (r, a)])
        done = run_many(scene, people, parallel=False, timeout=30.0)
    return {"lifecycles": len(done), "total_ms": summary_ms([one.total for one in done]),
            "steps_ms": {step: summary_ms([one.steps[step] for one in done]) for step in STEPS},
            "acks_ms": {step: summary_ms([one.acks[step] for one in done]) for step in STEPS}}
