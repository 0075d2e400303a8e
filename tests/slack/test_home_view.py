"""The Home tab's view: a pure function of the read model, within Slack's limits whatever the numbers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.keys import Permission
from bot.services.checkpoints import Checkpoint
from bot.services.home_model import AdminHome, Home, KeyRow, TotpStatus
from bot.services.ports import RequestView
from bot.slack import ids
from bot.slack.home_view import SHOWN, home_view
from kukey_sandbox.slack.blocks import VIEW_BLOCKS_LIMIT, buttons, texts, view_problems

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = KeyRow(api_key="5f1e7b3c2d4a6b0008a1b2c3", sub_account="alpha-trading",
             permissions=frozenset({Permission.GENERAL, Permission.SPOT}), ips=("203.0.113.5",),
             created_at=NOW - timedelta(days=120), expires_at=None, age_days=120, rotation_days=90)
REQ = RequestView(id="KK-ABCDEFGH", kind="rotate", state="pending", requester="U0ALICE01", sub_account="alpha-trading",
                  permissions=frozenset({Permission.GENERAL}), ips=(), expire_days=None, reason="r" * 400,
                  approvals_needed=2, approvers=("U0CAROL01",), created_at=NOW, expires_at=NOW + timedelta(minutes=30),
                  target_api_key=KEY.api_key)
ENROLLED = TotpStatus(enrolled=True)


def home(*, keys: int = 1, requests: int = 1, admin: AdminHome | None = None,
         totp: TotpStatus = ENROLLED) -> Home:
    many_keys = (KEY, *(replace(KEY, api_key=f"{i:024x}") for i in range(1, keys)))[:keys]
    many = (REQ, *(replace(REQ, id=f"KK-{i:08d}") for i in range(1, requests)))[:requests]
    return Home("U0BOB0001", NOW, many_keys, many, many, totp, admin)


def content(view: dict[str, Any]) -> str:
    return "\n".join(texts(view["blocks"]))


def test_a_home_is_a_view_slack_accepts_with_kukeys_ids() -> None:
    """The Home is a `home` view (no title, submit or close) that the Slack fake's checks accept, and its
    buttons carry kukey's action ids: Rotate and Revoke of each key, Approve, Re-enroll."""
    view = home_view(home())
    assert view["type"] == "home" and view["callback_id"] == ids.HOME_VIEW
    assert view_problems(view, "home") == []
    found = [(b.label, b.action_id, b.value) for b in buttons(view["blocks"])]
    assert found == [("Rotate", ids.HOME_ROTATE, f"alpha-trading {KEY.api_key}"),
                     ("Revoke", ids.HOME_REVOKE, f"alpha-trading {KEY.api_key}"),
                     ("Approve", ids.APPROVE, REQ.id), ("Re-enroll", ids.REENROLL, "reenroll")]


def test_rotate_and_revoke_ask_before_they_file_a_request() -> None:
    """Rotate and Revoke carry Slack's confirm dialog saying a second person must approve; Revoke's is red."""
    elements = [e for b in home_view(home())["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [e["confirm"]["title"]["text"] for e in elements] == ["Rotate this key?", "Revoke this key?"]
    assert all("Another person must approve it" in e["confirm"]["text"]["text"] for e in elements)
    assert elements[1]["confirm"]["style"] == "danger"


def test_long_lists_stay_within_slacks_100_blocks() -> None:
    """A thousand keys, requests, due and external keys: the Home shows SHOWN of each, says how many more and
    where to see them, and stays under Slack's 100 blocks."""
    admin = AdminHome(pending=(REQ,) * 1000, due=(KEY,) * 1000, external=(KEY,) * 1000,
                      checkpoint=Checkpoint(1234, "ab" * 32, NOW))
    view = home_view(home(keys=1000, requests=1000, admin=admin))
    assert len(view["blocks"]) <= VIEW_BLOCKS_LIMIT and view_problems(view, "home") == []
    text = content(view)
    assert sum(b.label == "Rotate" for b in buttons(view["blocks"])) == SHOWN
    assert sum(b.label == "Approve" for b in buttons(view["blocks"])) == SHOWN
    assert f"and {1000 - SHOWN} more — see `/kukey list`" in text
    assert f"and {1000 - SHOWN} more — see `/kukey pending`" in text
    assert "*Pending requests* (1000)" in text and "*Keys due for rotation* (1000)" in text


def test_what_each_person_sees_depends_on_them() -> None:
    """No keys, nothing to approve, not enrolled: the Home says so and offers Enroll; no admin part for a
    non-admin; a key being deleted has no buttons; a due key says so."""
    view = home_view(home(keys=0, requests=0, totp=TotpStatus(enrolled=False, started=True)))
    text = content(view)
    assert "You hold no key kukey created" in text and "Nothing waits for your approval." in text
    assert "You are not enrolled" in text and "It replaces the enrollment you did not confirm." in text
    assert [b.label for b in buttons(view["blocks"])] == ["Enroll"] and "Admin" not in text
    deleting = Home("U0BOB0001", NOW, (replace(KEY, state="delete_pending"),), (), (), ENROLLED)
    assert [b.label for b in buttons(home_view(deleting)["blocks"])] == ["Re-enroll"]
    assert "120 days old (rotate every 90 days) — *due for rotation*" in content(home_view(home()))


def test_the_admin_part_shows_the_checkpoint_to_verify_against() -> None:
    """Admins see the last checkpoint as seq and hash, with the command that verifies the log against it."""
    admin = AdminHome(pending=(), due=(), external=(), checkpoint=Checkpoint(42, "cd" * 32, NOW))
    text = content(home_view(home(admin=admin)))
    assert f"seq 42, hash `{'cd' * 32}`" in text and f"`kukey audit verify --checkpoint 42:{'cd' * 32}`" in text
    assert "none yet" in content(home_view(home(admin=replace(admin, checkpoint=None))))
