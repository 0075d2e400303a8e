"""Reading what the outbox owes and what Slack shows, for the outbox stories (both transports, one or two
bots): posts per request, the Web API calls that carried an outbox key, time passing for the bot."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from kukey_sandbox.world import APPROVALS, KukeyWorld
from tests.databases import rows

RECORDED = re.compile(r"Recorded as `(KK-[A-Z0-9]{8})`")


def outbox(world: KukeyWorld) -> list[tuple[Any, ...]]:
    """Every outbox row as (id, stream, op, state, attempts, params, result, last_error), oldest first."""
    return rows(world.database_url,
                "SELECT id, stream, op, state, attempts, params, result, last_error FROM outbox ORDER BY id")


def open_items(world: KukeyWorld) -> list[tuple[Any, ...]]:
    return [r for r in outbox(world) if r[3] in ("pending", "running")]


def heads(world: KukeyWorld) -> list[tuple[Any, ...]]:
    """The open item at the head of each stream (the one being tried; the rest of its stream waits)."""
    first: dict[str, tuple[Any, ...]] = {}
    for row in open_items(world):
        first.setdefault(row[1], row)
    return list(first.values())


def posts_of(world: KukeyWorld, request_id: str) -> list[Any]:
    """The top-level messages in the approvals channel about `request_id`."""
    return [m for m in world.fake.messages(APPROVALS) if f"`{request_id}`" in m.content]


def top_level_posts(world: KukeyWorld) -> list[Any]:
    """chat.postMessage calls to the approvals channel outside any thread, oldest first."""
    return [c for c in world.fake.calls("chat.postMessage")
            if c.params.get("channel") == APPROVALS and not c.params.get("thread_ts")]


def landed_per_key(world: KukeyWorld) -> dict[str, int]:
    """How many messages Slack holds for each outbox key (its metadata): 1 each means nothing twice."""
    counts: dict[str, int] = {}
    with world.fake.world.transaction() as w:
        for message in w.posts.values():
            key = ((message.metadata or {}).get("event_payload") or {}).get("key")
            if key and not message.deleted:
                counts[key] = counts.get(key, 0) + 1
    return counts


def private_notes(world: KukeyWorld, user: str, needle: str) -> list[str]:
    """What `user` was told privately (ephemeral or DM) containing `needle`."""
    dm = world.fake.dm(user)
    texts = [e.content for e in world.fake.ephemerals(user)] + [m.content for m in world.fake.messages(dm)]
    return [t for t in texts if needle in t]


def let_time_pass(world: KukeyWorld, predicate: Callable[[], Any], *, step: float, most: float,
                  what: str) -> Any:
    """Move the bot's clock `step` seconds at a time (at most `most` in all), waiting after each step for the
    bot to act, until `predicate` holds: retries are due by the bot's clock, not the wall's."""
    passed = 0.0
    while True:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            with world.fake.world.changed:
                world.fake.world.changed.wait(0.05)
        if passed >= most:
            raise AssertionError(f"{what}: not after {passed:g} s of the bot's time\n{world.fake.describe()}")
        # The clock moves only while nothing is being sent: a jump past a live process's lease (the wall clock
        # never makes one: the lease is renewed every third of it) would hand a delivery in flight to the
        # other process, which sends it again (an ephemeral cannot be looked for first).
        world.wait(lambda: not [r for r in outbox(world) if r[3] == "running"], timeout=30,
                   what="no delivery in flight before the bot's clock moves")
        world.advance(step)
        passed += step
