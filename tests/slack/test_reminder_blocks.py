"""Key reminders and the weekly digest as Slack messages (bot.slack.reminders): what they say, and blocks
Slack accepts however long the digest's lists are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.keys import Permission
from bot.domain.reminders import KeyReminder, Reason
from bot.services.digest import Digest
from bot.services.home_model import KeyRow
from bot.services.ports import RequestView
from bot.slack import ids, reminders
from kukey_sandbox.slack.blocks import MESSAGE_BLOCKS_LIMIT, problems

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "0123456789abcdef01234567"
MANY = 30


def _reminder(reason: Reason, days_left: int = 7) -> KeyReminder:
    return KeyReminder(reason=reason, owner="U0ALICE01", api_key=KEY, sub_account="alpha-trading",
                       expires_at=NOW + timedelta(days=days_left), days_left=days_left, age_days=91,
                       rotation_days=90)


def _key(i: int) -> KeyRow:
    return KeyRow(api_key=f"{i:024x}", sub_account="alpha-trading", permissions=frozenset({Permission.GENERAL}),
                  ips=(), created_at=NOW - timedelta(days=100), expires_at=NOW + timedelta(days=3), age_days=100,
                  rotation_days=90)


def _request(i: int) -> RequestView:
    return RequestView(id=f"KK-{i:08d}", kind="create", state="pending", requester="U0ALICE01",
                       sub_account="alpha-trading", permissions=frozenset({Permission.GENERAL}), ips=(),
                       expire_days=None, reason="x" * 200, approvals_needed=1, approvers=(), created_at=NOW,
                       expires_at=NOW)


def test_a_reminder_says_why_and_offers_rotate() -> None:
    """An expiry reminder says when the key stops working, a rotation reminder its age against the rule; both
    carry Rotate with the key's sub-account and id, behind Slack's confirm dialog."""
    expiry, rotation = _reminder(Reason.EXPIRY, 1), _reminder(Reason.ROTATION)
    assert f"Your key `{KEY}` in *alpha-trading* expires in 1 day (2026-01-02 00:00 UTC)" in reminders.reminder_text(
        expiry)
    assert "is 91 days old: the policy wants keys of *alpha-trading* rotated every 90 days" in \
        reminders.reminder_text(rotation)
    for message in (reminders.reminder_blocks(expiry), reminders.reminder_blocks(rotation)):
        assert problems(message, limit=MESSAGE_BLOCKS_LIMIT) == []
        (button,) = message[1]["elements"]
        assert (button["action_id"], button["value"]) == (ids.REMINDER_ROTATE, f"alpha-trading {KEY}")
        assert button["confirm"]["confirm"]["text"] == "File the request"


def test_a_long_digest_shows_the_first_of_each_list_and_how_many_more() -> None:
    """A digest with many items in every list stays a message Slack accepts: each list shows its first items,
    then how many more and the command that lists them all."""
    keys, requests = tuple(_key(i) for i in range(MANY)), tuple(_request(i) for i in range(MANY))
    digest = Digest(now=NOW, due=keys, expiring=keys, pending=requests, external=keys)
    message = reminders.digest_blocks(digest)
    assert problems(message, limit=MESSAGE_BLOCKS_LIMIT) == []
    text = " ".join(b["text"]["text"] for b in message if b["type"] == "section")
    assert f"*Keys due for rotation* ({MANY})" in text and "and 20 more — see `/kukey pending`" in text
    assert reminders.digest_text(digest) == (f"kukey weekly digest: due for rotation {MANY}, expiring soon {MANY}, "
                                             f"pending requests {MANY}, not created by kukey {MANY}")


def test_an_empty_digest_says_none() -> None:
    """A week with nothing to report still tells the admins so, list by list."""
    message = reminders.digest_blocks(Digest(now=NOW, due=(), expiring=(), pending=(), external=()))
    text = " ".join(b["text"]["text"] for b in message if b["type"] == "section")
    assert text.count("None.") == 4
