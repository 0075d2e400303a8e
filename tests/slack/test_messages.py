"""kukey's sentences count things right: one key, one approval, one day; never "1 keys" or "key(s)"."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from bot.services.ports import RequestView
from bot.slack import messages

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
