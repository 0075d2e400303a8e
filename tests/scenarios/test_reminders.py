"""Key reminders, in both transports: the owner of a key is told once when it is about to expire and once
when it is due for rotation (never twice, not after a restart, never for a key rotated or revoked), and the
message's Rotate files the usual rotate request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kukey_sandbox.world import APPROVALS, APPROVER, OUTSIDER, REQUESTER, KukeyWorld, Story, default_policy
from tests.databases import rows
from tests.hardening.helpers import form, send_signed
from tests.hardening.hostile import click
from tests.scenarios.conftest import enrolled

NEVER = "create alpha-trading perms=Spot ips=203.0.113.5 market making"  # a key that never expires
EXPIRING = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 bot"
DAY = 24 * 3600
HOUR = 3600


def job_runs(w: KukeyWorld, kind: str) -> int:
    """How many runs of the periodic job `kind` have finished (it is pending again after each)."""
    found = rows(w.database_url, "SELECT attempts, state FROM job WHERE kind = ?", (kind,))
    return int(found[0][0]) if found and found[0][1] == "pending" else -1


def outbox_idle(w: KukeyWorld) -> bool:
    return not rows(w.database_url, "SELECT 1 FROM outbox WHERE state IN ('pending', 'running')")


def run_job(w: KukeyWorld, seconds: float, kind: str = "key_reminders") -> None:
    """Move the clock on by `seconds`, wait for the periodic job `kind` to run, and for what it owes to go out."""
    before = job_runs(w, kind)
    w.advance(seconds)
    w.wait(lambda: job_runs(w, kind) > before, what=f"the {kind} job ran")
    w.wait(lambda: outbox_idle(w), what="the outbox delivered")


def reminders(w: KukeyWorld, user: str = REQUESTER) -> list[Any]:
    """The key reminders `user` got by direct message, oldest first."""
    return [m for m in w.fake.messages(w.fake.dm(user)) if "Your key `" in m.content]


def reminded(w: KukeyWorld) -> list[tuple[Any, ...]]:
    return rows(w.database_url, "SELECT api_key, reason, owner FROM key_reminder ORDER BY id")


def test_an_expiring_key_is_told_once_and_its_rotate_files_the_request(two_transports: Story) -> None:
    """A key with an expiry is told to its owner once, 7 days (warn_before_expiry_days) before it expires, with
    a Rotate button; the click files the rotate request, whose approval and reveal then proceed as usual."""
    story, w = two_transports, two_transports.w
    key = story.create_key(EXPIRING)
    run_job(w, 22 * DAY)
    assert reminders(w) == []
    run_job(w, DAY + HOUR)
    (told,) = reminders(w)
    assert f"Your key `{key}` in *alpha-trading* expires in 7 days" in told.content
    assert told.button_labels == ["Rotate"]
    run_job(w, 2 * DAY)
    assert len(reminders(w)) == 1 and reminded(w) == [(key, "expiry", REQUESTER)]
    before = len(w.fake.messages(APPROVALS))
    w.driver.click(REQUESTER, "Rotate", channel=w.fake.dm(REQUESTER))
    post = w.wait(lambda: w.fake.messages(APPROVALS)[before] if len(w.fake.messages(APPROVALS)) > before else None,
                  what="the rotate request posted")
    assert f"Rotate key `{key}` in *alpha-trading*" in post.content and post.button_labels == ["Approve", "Deny"]
    assert not story.approve(post, APPROVER).errors
    new = story.reveal()
    assert new != key
    w.wait(lambda: rows(w.database_url, "SELECT state FROM api_key WHERE api_key = ?", (key,)) == [("deleted",)],
           what="the old key deleted, as after any rotation")


def test_a_key_due_for_rotation_is_told_once_even_after_a_restart(two_transports: Story) -> None:
    """A key older than its rule's rotation_days is told to its owner once, with one audit event; a restart
    (the job runs again on the same database) sends nothing more."""
    story, w = two_transports, two_transports.w
    key = story.create_key(NEVER)
    run_job(w, 89 * DAY)
    assert reminders(w) == []
    run_job(w, 2 * DAY)
    (told,) = reminders(w)
    assert f"Your key `{key}` in *alpha-trading* is 91 days old" in told.content and "every 90 days" in told.content
    w.stop_bot()
    w.start_bot()
    run_job(w, DAY)
    assert len(reminders(w)) == 1 and reminded(w) == [(key, "rotation", REQUESTER)]
    assert rows(w.database_url, "SELECT actor, api_key FROM audit_event WHERE action = 'key.reminded'") == [
        ("kukey", key)]


@pytest.fixture
def story(tmp_path: Path) -> Iterator[Story]:
    with KukeyWorld(home=tmp_path) as world:
        yield enrolled(world)


def test_rotated_and_revoked_keys_are_never_told(story: Story) -> None:
    """Once a key is rotated (its replacement young) or revoked, passing its rotation age tells nobody."""
    w = story.w
    revoked, rotated = story.create_key(NEVER), story.create_key(NEVER)
    post = story.request(f"revoke alpha-trading {revoked} leaving the desk")
    assert not story.approve(post, APPROVER).errors
    w.wait(lambda: revoked not in [k["api_key"] for k in w.sandbox.keys("alpha-trading")], what="the revoke")
    run_job(w, 80 * DAY)
    assert not story.approve(story.request(f"rotate alpha-trading {rotated}"), APPROVER).errors
    story.reveal()
    run_job(w, 11 * DAY)  # both old keys are 91 days old now, the new one 11
    assert reminders(w) == [] and reminded(w) == []


def test_a_click_by_someone_else_is_refused_as_their_rotate_would_be(tmp_path: Path) -> None:
    """A reminder's Rotate clicked by someone /kukey rotate refuses (not in the requesters group) is refused the
    same way, with the same audit event, and files nothing."""
    policy = default_policy().replace("[groups]\n", f'[groups]\nrequesters = ["{REQUESTER}"]\n')
    with KukeyWorld(home=tmp_path, policy_text=policy) as w:
        key = enrolled(w).create_key(NEVER)
        said = w.driver.slash(OUTSIDER, "C0TRADING", f"rotate alpha-trading {key}")
        w.wait(lambda: any("not in the requesters group" in e.content for e in w.fake.ephemerals(OUTSIDER)),
               what="the command refused")
        assert said.ok
        assert send_signed(w.driver, form(click("kk_reminder_rotate", f"alpha-trading {key}"))).status == 200
        w.wait(lambda: len([e for e in w.fake.ephemerals(OUTSIDER) if "not in the requesters group" in e.content]) == 2,
               what="the click refused")
        assert rows(w.database_url, "SELECT count(*) FROM request WHERE kind = 'rotate'") == [(0,)]
        refusals = rows(w.database_url, "SELECT actor FROM audit_event WHERE action = 'command.refused'")
        assert refusals == [(OUTSIDER,), (OUTSIDER,)]


def test_a_key_with_a_rotation_already_requested_is_told_only_once_that_request_ends(tmp_path: Path) -> None:
    """While a rotate request for a key is open, its owner is not reminded of it; once the request is
    cancelled without replacing the key, the next run reminds them."""
    with KukeyWorld(home=tmp_path, policy_text=default_policy(rotation_days=1, request_ttl_minutes=10080)) as w:
        story = enrolled(w)
        key = story.create_key(NEVER)
        story.request(f"rotate alpha-trading {key}")
        run_job(w, 2 * DAY)
        assert reminded(w) == []
        rid = rows(w.database_url, "SELECT id FROM request WHERE kind = 'rotate'")[0][0]
        assert w.driver.slash(REQUESTER, "C0TRADING", f"cancel {rid}").ok
        w.wait(lambda: rows(w.database_url, "SELECT state FROM request WHERE id = ?", (rid,)) == [("cancelled",)],
               what="the rotate request cancelled")
        run_job(w, HOUR)
        (told,) = reminders(w)
        assert f"Your key `{key}` in *alpha-trading* is 2 days old" in told.content


def test_an_open_update_does_not_hold_a_reminder_back(tmp_path: Path) -> None:
    """An update request replaces no key: while one is open for a key due for rotation, its owner is reminded."""
    with KukeyWorld(home=tmp_path, policy_text=default_policy(rotation_days=1, request_ttl_minutes=10080)) as w:
        story = enrolled(w)
        key = story.create_key(NEVER)
        story.request(f"update alpha-trading {key} ips=203.0.113.9 new server")
        run_job(w, 2 * DAY)
        assert reminded(w) == [(key, "rotation", REQUESTER)]
