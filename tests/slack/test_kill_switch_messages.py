"""The kill switch's progress message and report: every key named, within Slack's message length."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.services.ports import RequestView
from bot.slack import kill_switch_messages as kill_text

NOW = datetime(2026, 1, 1, tzinfo=UTC)
REQ = RequestView(id="KK-7F3Q9C2M", kind="kill_switch", state="revoking", requester="U0DAVE001", sub_account="*",
                  permissions=frozenset(), ips=(), expire_days=None, reason="leak", approvals_needed=0,
                  approvers=(), created_at=NOW, expires_at=NOW, incident=True, origin_channel="C0INCIDENT")


def _key(i: int) -> str:
    return f"{i:024x}"


def test_the_report_of_500_keys_names_every_key_in_replies_slack_accepts() -> None:
    """500 keys across 100 sub-accounts: every key and its outcome appears once, in replies under 3500
    characters each."""
    keys = [[f"sub-{i // 5:03d}", _key(i), "failed" if i == 7 else "deleted", "KuCoin down" if i == 7 else ""]
            for i in range(500)]
    replies = kill_text.report(keys)
    assert len(replies) > 1 and all(len(r) <= kill_text.REPLY_MAX for r in replies)
    text = "\n".join(replies)
    assert all(text.count(f"`{_key(i)}`") == 1 for i in range(500))
    assert f"`sub-001` `{_key(7)}`: :x: failed (KuCoin down)" in text


def test_progress_names_the_failures_and_the_time_left() -> None:
    """While running: n of N, the first failures named with their error and how many more, the time left."""
    failed = [["sub-1", _key(i), "timeout"] for i in range(12)]
    text = kill_text.progress(REQ, {"total": 500, "deleted": 120, "failed": failed, "seconds_left": 95.0,
                                    "done": False})
    assert "*120 of 500* keys deleted, *12 failed*" in text
    assert f"`{_key(0)}` (sub-1: timeout)" in text and "and 2 more" in text
    assert "Time left: about 2 min" in text
    done = kill_text.progress(REQ, {"total": 500, "deleted": 500, "failed": [], "seconds_left": 0, "done": True})
    assert "done" in done and "Time left" not in done and "thread" in done


def test_keys_out_of_reach_come_with_what_to_do_in_the_web_ui() -> None:
    """Keys kukey holds no passphrase for are listed with the web UI steps; none known says so."""
    text = "\n".join(kill_text.out_of_reach([["beta-spot", _key(1)]]))
    assert f"`beta-spot` `{_key(1)}`" in text and "web UI" in text and "API Management" in text
    assert "none that kukey knows of" in kill_text.out_of_reach([])[0]


@pytest.mark.parametrize(("count", "keys"), [(0, "*0* keys"), (1, "*1* key"), (2, "*2* keys")])
def test_the_form_counts_the_keys_it_will_delete(count: int, keys: str) -> None:
    """The kill switch's form says "*1* key" for one key and "*n* keys" for any other count."""
    assert f"in every sub-account: {keys}. Keys kukey did not create stay" in kill_text.intro(count)


def test_one_key_in_progress_and_announcement_is_one_key() -> None:
    """The progress message and the announcement of a kill switch of one key say "1 of 1 key deleted"."""
    p = {"total": 1, "deleted": 1, "failed": [], "seconds_left": 0, "done": True}
    assert "*1 of 1* key deleted\n" in kill_text.progress(REQ, p)
    assert kill_text.announcement(REQ, p).endswith(": 1 of 1 key deleted.")
