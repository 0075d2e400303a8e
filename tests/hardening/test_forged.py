"""Forged and malformed Slack traffic: refused before it can do anything, one log line each, no audit."""

from __future__ import annotations

import logging
import time

import pytest

from kukey_sandbox.world import APPROVALS, Story
from tests.hardening.helpers import changes, concurrently, form, posted, send_signed, snapshot
from tests.hardening.hostile import catalog, click

ROUNDS = 8  # the flood sends every kind this many times


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("kukey.")]


def _wait_lines(story: Story, caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    """Log lines of listeners that answer after their ack arrive a moment after the HTTP answer."""
    story.w.wait(lambda: len(_lines(caplog)) >= count, timeout=5, what=f"{count} log lines")
    return _lines(caplog)


@pytest.fixture
def busy(story: Story) -> Story:
    """A world with something to lose: four people enrolled and a request waiting for approval."""
    story.request("create alpha-trading perms=Spot ips=203.0.113.5 expire=30 market making")
    story.w.wait(lambda: posted(story.w), what="the post recorded")
    return story


def test_each_hostile_kind_gets_its_status_and_one_log_line(busy: Story,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """Every kind of forged or malformed request gets its 4xx (or, validly signed but meaningless, a 404 or
    200 that changes nothing) and exactly one log line that carries no signature or secret."""
    world = busy.w
    before = snapshot(world)
    caplog.set_level(logging.INFO, logger="kukey")
    for hostile in catalog(world):
        caplog.clear()
        assert hostile.send() == hostile.expected, hostile.name
        lines = _wait_lines(busy, caplog, 1)
        assert len(lines) == 1, (hostile.name, [r.getMessage() for r in lines])
        text = repr(vars(lines[0]))
        assert world.fake.signing_secret not in text and "v0=" not in text, hostile.name
    assert changes(before, snapshot(world)) == {}


def test_a_flood_of_hostile_requests_changes_nothing(busy: Story, caplog: pytest.LogCaptureFixture) -> None:
    """Hundreds of hostile requests from 8 threads at once: each answered as expected, one log line each,
    and the database, the audit log (count and head hash), Slack and KuCoin are exactly as before."""
    world = busy.w
    posts = len(world.fake.messages(APPROVALS))
    before = snapshot(world)
    caplog.set_level(logging.INFO, logger="kukey")
    kinds = catalog(world) * ROUNDS
    started = time.monotonic()
    statuses = concurrently([h.send for h in kinds], workers=8)
    assert list(zip([h.name for h in kinds], statuses, strict=True)) == [(h.name, h.expected) for h in kinds]
    assert len(kinds) >= 200
    assert len(_wait_lines(busy, caplog, len(kinds))) == len(kinds)
    assert changes(before, snapshot(world)) == {}
    assert len(world.fake.messages(APPROVALS)) == posts
    print(f"\nhostile flood: {len(kinds)} requests of {len(kinds) // ROUNDS} kinds "
          f"in {time.monotonic() - started:.1f} s, state and audit unchanged")


def test_command_mentioning_payload_reaches_kukey(story: Story) -> None:
    """A slash command whose text contains the word "payload" (which Bolt alone mistakes for an interaction
    and drops) is handled like any other."""
    post = story.request("create alpha-trading perms=Spot ips=203.0.113.5 expire=30 payload signing bot")
    assert "payload signing bot" in post.content


def test_click_without_reply_url_is_answered_at_once(busy: Story, caplog: pytest.LogCaptureFixture) -> None:
    """A signed click that carries no response_url (kukey cannot answer privately) gets 200 at once and one
    log line; replying would raise right after the ack, and Bolt alone then drops the ack (3 s hang)."""
    world = busy.w
    before = snapshot(world)
    caplog.set_level(logging.INFO, logger="kukey")
    for _ in range(ROUNDS):
        started = time.monotonic()
        assert send_signed(world.driver, form(click("kk_approve", "KK-NOPE"))).status == 200
        assert time.monotonic() - started < 1.0
    assert len(_wait_lines(busy, caplog, ROUNDS)) == ROUNDS
    assert changes(before, snapshot(world)) == {}


def test_failure_after_the_ack_keeps_the_ack(busy: Story, caplog: pytest.LogCaptureFixture) -> None:
    """A listener that fails after acking (here its reply URL is dead) still answers 200 at once, logs the
    failure once, and changes nothing."""
    world = busy.w
    before = snapshot(world)
    caplog.set_level(logging.INFO, logger="kukey")
    for _ in range(ROUNDS):
        started = time.monotonic()
        ack = send_signed(world.driver, form(click("kk_approve", "KK-NOPE", "http://127.0.0.1:9/x")))
        assert ack.status == 200 and time.monotonic() - started < 1.0
    busy.w.wait(lambda: sum("after its ack" in r.getMessage() for r in _lines(caplog)) == ROUNDS,
                what="each failure logged")
    assert changes(before, snapshot(world)) == {}
