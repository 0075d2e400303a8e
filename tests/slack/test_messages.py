"""kukey's sentences count things right: one key, one approval, one day; never "1 keys" or "key(s)"."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import decisions
from bot.domain.policy import Rule
from bot.domain.reminders import KeyReminder, Reason
from bot.services.home_model import KeyRow
from bot.services.ports import RequestView
from bot.slack import home_messages, messages, reminders

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
KEY, OTHER = "6f1e2d3c4b5a69788796a5b4", "0123456789abcdef01234567"
REVOKE = RequestView(id="KK-7F3Q9C2M", kind="revoke", state="done", requester="U0ALICE01", sub_account="alpha",
                     permissions=frozenset(), ips=(), expire_days=None, reason="", approvals_needed=1,
                     approvers=(), created_at=NOW, expires_at=NOW + timedelta(hours=1), revoke_all=True)


@pytest.mark.parametrize(("days", "text"), [(None, "never"), (1, "1 day"), (2, "2 days"), (30, "30 days")])
def test_an_expiry_counts_its_days(days: int | None, text: str) -> None:
    """A key's expiry reads "1 day" for one day and "n days" for any other count."""
    assert messages.expiry(days) == text


@pytest.mark.parametrize(("deleted", "unmanaged", "expected"), [
    ([KEY], [OTHER], ["1 key deleted: ", "holds no passphrase for it: ", ". Delete it in KuCoin's web UI"]),
    ([KEY, OTHER], [], ["2 keys deleted: "]),
    ([], [KEY, OTHER], ["0 keys deleted", "holds no passphrase for them: ", ". Delete them in KuCoin's web UI"]),
])
def test_a_revoke_counts_its_keys(deleted: list[str], unmanaged: list[str], expected: list[str]) -> None:
    """A revoke's note says "1 key deleted" or "n keys deleted", and "it" or "them" for the keys out of reach."""
    text = messages.revoke_text(REVOKE, {"deleted": deleted, "unmanaged": unmanaged})
    assert all(part in text for part in expected), text
    assert "(s)" not in text


@pytest.mark.parametrize(("needed", "text"), [(1, "(1 approval needed)"), (2, "(2 approvals needed)")])
def test_a_posted_request_counts_the_approvals_it_needs(needed: int, text: str) -> None:
    """The requester's note about a posted request says "1 approval needed" or "n approvals needed"."""
    req = dataclasses.replace(REVOKE, kind="create", state="pending", approvals_needed=needed)
    assert text in messages.submitted(req, "https://example.slack.com/archives/C0APPROVAL/p1")


def test_a_key_a_day_old_and_a_rule_of_one_day_read_in_the_singular() -> None:
    """The Home's key line, the due list and a rotation reminder say "1 day old" and "every 1 day", never
    "1 days"; a rule with one approver says "1 approval" and "1 person"."""
    row = KeyRow(api_key=KEY, sub_account="alpha", permissions=frozenset(), ips=(), created_at=NOW,
                 expires_at=None, age_days=1, rotation_days=1)
    reminder = KeyReminder(Reason.ROTATION, "U0ALICE01", KEY, "alpha", None, 0, 1, 1)
    for text in (home_messages.key_text(row), home_messages.due_line(row), reminders.reminder_text(reminder)):
        assert "1 day old" in text and "1 days" not in text
    assert "every 1 day" in home_messages.key_text(row) + reminders.reminder_text(reminder)
    rule = Rule(index=0, match="alpha", approvals=1)
    refused = decisions.enough_approvers(requester="U0ALICE01", rule=rule, approvers=frozenset({"U0ALICE01"}))
    assert "needs 1 approval but only 0 people" in refused.message
