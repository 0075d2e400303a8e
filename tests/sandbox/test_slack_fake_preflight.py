"""What the Slack fake offers kukey's preflight: Slack's Date header, a clock skew, and missing scopes."""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.domain.clock import FakeClock
from kukey_sandbox.slack import SlackFake

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[SlackFake]:
    with SlackFake(clock=FakeClock(START)) as f:
        f.add_channel("C0PUBLIC1", "general", members=[f.bot_user_id])
        f.add_channel("G0PRIVATE", "private", members=[f.bot_user_id], is_private=True)
        f.add_usergroup("S0GROUP01", "group", users=[])
        yield f


def _call(fake: SlackFake, method: str, **params: str) -> httpx.Response:
    return httpx.post(fake.api_url + method, data=params, headers={"Authorization": f"Bearer {fake.bot_token}"})


def test_answers_carry_the_fakes_clock_in_a_date_header_moved_by_the_skew(fake: SlackFake) -> None:
    """Every Web API answer has a Date header from the fake's clock, and set_clock_skew moves it."""
    assert email.utils.parsedate_to_datetime(_call(fake, "auth.test").headers["Date"]) == START
    fake.set_clock_skew(-8)
    assert email.utils.parsedate_to_datetime(_call(fake, "auth.test").headers["Date"]) == START - timedelta(seconds=8)


def test_a_withheld_scope_answers_missing_scope_naming_it(fake: SlackFake) -> None:
    """Without channels:read, groups:read or usergroups:read, the methods needing them answer missing_scope
    with the scope in `needed`, as Slack does; the other scopes keep working."""
    fake.withhold_scope("channels:read")
    assert _call(fake, "conversations.info", channel="C0PUBLIC1").json() == {
        "ok": False, "error": "missing_scope", "needed": "channels:read"}
    assert _call(fake, "conversations.info", channel="G0PRIVATE").json()["ok"] is True
    fake.withhold_scope("usergroups:read")
    assert _call(fake, "usergroups.users.list", usergroup="S0GROUP01").json()["needed"] == "usergroups:read"
