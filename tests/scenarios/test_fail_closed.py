"""If the audit event cannot be written, the action does not happen and the person is told."""

from __future__ import annotations

import sqlite3

from kukey_sandbox.world import APPROVALS, APPROVER, REQUESTER, TRADING, Story

CREATE = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 bot"


def _break_audit(story: Story) -> None:
    """A real database fault: every further audit insert is aborted by SQLite."""
    with sqlite3.connect(story.w.db_path) as db:
        db.execute("CREATE TRIGGER audit_down BEFORE INSERT ON audit_event "
                   "BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END")


def test_audit_failure_blocks_reveal_and_no_kucoin_call(story: Story) -> None:
    """With the audit write failing, Reveal creates nothing at KuCoin and says why in the modal."""
    post = story.request(CREATE)
    assert not story.approve(post, APPROVER).errors
    story.private(REQUESTER, "Reveal key")
    creates_before = story.w.sandbox.call_counts().get("POST /api/v1/sub/api-key", 0)
    _break_audit(story)
    story.w.driver.click(REQUESTER, "Reveal key")
    result = story.w.submit(REQUESTER, {"code": story.w.code(REQUESTER)})
    assert "audit log" in result.errors["code"]
    assert story.w.sandbox.call_counts().get("POST /api/v1/sub/api-key", 0) == creates_before
    assert story.w.sandbox.keys("alpha-trading") == []


def test_audit_failure_blocks_a_new_request(story: Story) -> None:
    """With the audit write failing, a create is not posted and the requester gets a clear message."""
    _break_audit(story)
    story.w.driver.slash(REQUESTER, TRADING, CREATE)
    story.private(REQUESTER, "could not write its audit log")
    assert story.w.fake.messages(APPROVALS) == []
