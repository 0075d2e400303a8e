"""kukey's Home tab, in both transports: what each person sees there, and its buttons starting the usual
flows (the same requests, policy checks, two-person approval and TOTP as the slash commands and the
approvals channel)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kukey_sandbox.seeding import seed_keys
from kukey_sandbox.world import (
    ADMIN,
    APPROVALS,
    APPROVER,
    APPROVER2,
    AUDIT,
    OUTSIDER,
    REQUESTER,
    KukeyWorld,
    Story,
    _seed_from,
)
from tests.databases import rows
from tests.scenarios.conftest import enrolled

NEVER = "create alpha-trading perms=Spot ips=203.0.113.5 market making"  # a key that never expires
DAY = 24 * 3600


@pytest.fixture(params=["http", "socket"])
def story(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Story]:
    """The people enrolled, in a world served over HTTP or over Socket Mode."""
    with KukeyWorld(home=tmp_path, socket=request.param == "socket") as world:
        yield enrolled(world)


def request_id(post: object) -> str:
    found = re.search(r"\(request `(KK-[0-9A-Z]+)`\)", getattr(post, "content", ""))
    assert found, post
    return found.group(1)


def test_requester_sees_their_key_with_its_age_and_rotation_due(story: Story) -> None:
    """The requester's Home lists their key (permissions, IPs, created, expires) with Rotate and Revoke; once it
    is older than the rule's rotation_days it says it is due."""
    w = story.w
    key = story.create_key(NEVER)
    w.open_home(REQUESTER)
    home = w.home_shows(REQUESTER, f"`{key}` in *alpha-trading* — General, Spot; IPs 203.0.113.5")
    assert "expires never; 0 days old (rotate every 90 days)" in home.content and "due for rotation" not in home.content
    assert [b.label for b in home.buttons if b.block_id == f"key:{key}"] == ["Rotate", "Revoke"]
    w.advance(91 * DAY)
    w.open_home(REQUESTER)
    w.home_shows(REQUESTER, "91 days old (rotate every 90 days) — *due for rotation*")


def test_rotate_from_home_files_the_rotate_request(story: Story) -> None:
    """Rotate on the Home files what `/kukey rotate <sub> <key>` files: a pending request posted for approval,
    its thread opened, the requester told; nothing changes at KuCoin until someone approves."""
    w = story.w
    key = story.create_key(NEVER)
    w.open_home(REQUESTER)
    w.home_shows(REQUESTER, f"`{key}`")
    before = len(w.fake.messages(APPROVALS))
    w.driver.click(REQUESTER, "Rotate", home=True, block_id=f"key:{key}")
    post = w.wait(lambda: w.fake.messages(APPROVALS)[before] if len(w.fake.messages(APPROVALS)) > before else None,
                  what="the rotate request posted")
    assert f"Rotate key `{key}` in *alpha-trading*" in post.content and post.button_labels == ["Approve", "Deny"]
    rid = request_id(post)
    story.private(REQUESTER, f"Request `{rid}` was posted for approval")
    assert rows(w.database_url, "SELECT kind, state, target_api_key FROM request WHERE id = ?", (rid,)) == [
        ("rotate", "pending", key)]
    assert [k["api_key"] for k in w.sandbox.keys("alpha-trading")] == [key]
    w.home_shows(REQUESTER, f"`{rid}` Rotate key `{key}`")
    assert not story.approve(post, APPROVER).errors
    story.in_thread(post, "approved")


def test_revoke_from_home_files_a_revoke_that_needs_approval(story: Story) -> None:
    """Revoke on the Home is the approved revoke (the Home tab is no incident channel): the key stays at
    KuCoin until a second person approves, then it is deleted."""
    w = story.w
    key = story.create_key(NEVER)
    w.open_home(REQUESTER)
    w.home_shows(REQUESTER, f"`{key}`")
    w.driver.click(REQUESTER, "Revoke", home=True, block_id=f"key:{key}")
    post = w.wait(lambda: next((m for m in w.fake.messages(APPROVALS) if f"Revoke key `{key}`" in m.content), None),
                  what="the revoke request posted")
    assert post.button_labels == ["Approve", "Deny"] and "*Status:* Pending approval" in post.content
    assert [k["api_key"] for k in w.sandbox.keys("alpha-trading")] == [key]
    assert not story.approve(post, APPROVER).errors
    w.wait(lambda: w.sandbox.keys("alpha-trading") == [], what="the key deleted at KuCoin")


def test_approver_sees_a_new_request_and_approves_it_from_home(story: Story) -> None:
    """An approver's open Home gains a new request without being reopened (another approver, who never opened
    theirs, gets nothing published); Approve there opens the same TOTP form as the approvals channel, and the
    approval shows in the thread and on the request; the request then leaves their Home."""
    w = story.w
    assert "Nothing waits for your approval." in w.open_home(APPROVER).content
    post = story.request(NEVER)
    rid = request_id(post)
    w.home_shows(APPROVER, f"(request `{rid}`)")
    assert w.fake.home(APPROVER2) is None  # never opened it: nothing is published for them
    w.driver.click(APPROVER, "Approve", home=True, block_id=f"approve:{rid}")
    answer = w.submit(APPROVER, {"code": w.code(APPROVER)}, callback_id="kk_approve_totp")
    assert not answer.errors
    story.in_thread(post, "<@U0BOB0001> approved")
    w.wait(lambda: w.fake.message(APPROVALS, post.ts).button_labels == [], what="the request's buttons gone")
    story.private(REQUESTER, "Reveal key")
    w.home_shows(APPROVER, "Nothing waits for your approval.")


def test_only_eligible_approvers_see_a_request(story: Story) -> None:
    """A request waits on the Home of the approvers only: not the requester's (their own request is under
    their open requests), not someone outside the approver group's."""
    w = story.w
    rid = request_id(story.request(NEVER))
    w.open_home(APPROVER2)
    w.home_shows(APPROVER2, f"(request `{rid}`)")
    outsider = w.open_home(OUTSIDER)
    assert rid not in outsider.content and "Nothing waits for your approval." in outsider.content
    assert "Approve" not in [b.label for b in outsider.buttons]
    w.open_home(REQUESTER)
    mine = w.home_shows(REQUESTER, f"• `{rid}` New API key for *alpha-trading*")
    assert "Nothing waits for your approval." in mine.content


def test_admin_sees_pending_requests_due_and_external_keys_and_the_checkpoint(story: Story) -> None:
    """An admin's Home adds every pending request, the keys due for rotation, the keys kukey did not create
    (found by reconciliation) and the last audit checkpoint, as posted to the audit channel; others do not
    see that part."""
    w = story.w
    key = story.create_key(NEVER)
    (external,) = seed_keys(w, "beta-spot", 1, record=False)
    w.advance(91 * DAY)  # the hourly reconciliation and checkpoint jobs are due
    w.wait(lambda: any("*kukey reconciliation*" in m.content for m in w.fake.messages(APPROVALS)),
           what="the reconciliation report")
    posted = w.wait(lambda: next((re.search(r"Audit checkpoint `(\d+:[0-9a-f]{64})`", m.content)
                                  for m in reversed(w.fake.messages(AUDIT)) if "Audit checkpoint" in m.content),
                                 None), what="a checkpoint posted")
    rid = request_id(story.request("create beta-spot perms=Spot ips=203.0.113.5 desk bot"))
    w.open_home(ADMIN)
    home = w.home_shows(ADMIN, f"`{rid}`")
    assert "*Pending requests* (1)" in home.content and f"`{rid}` New API key for *beta-spot*" in home.content
    assert "*Keys due for rotation* (1)" in home.content and f"`/kukey rotate alpha-trading {key}`" in home.content
    assert "*Keys kukey did not create* (1)" in home.content and f"`{external}` in *beta-spot*" in home.content
    assert f"`kukey audit verify --checkpoint {posted.group(1)}`" in home.content
    assert "Admin" not in w.open_home(REQUESTER).content


def test_someone_not_enrolled_sees_enroll_and_enrolls_from_home(story: Story) -> None:
    """A person without TOTP sees Enroll; it shows their new seed in a form that takes the first code, and
    their Home then says they are enrolled."""
    w = story.w
    home = w.open_home(OUTSIDER)
    assert "You are not enrolled" in home.content and "Enroll" in [b.label for b in home.buttons]
    w.driver.click(OUTSIDER, "Enroll", home=True)
    form = w.wait(lambda: (m := w.fake.modal(OUTSIDER)) is not None and "Seed (base32)" in m.content and m,
                  what="the enrollment form with the seed")
    seed = _seed_from(form.content)
    assert form.title == "TOTP enrollment" and seed
    w.seeds[OUTSIDER] = seed
    assert not w.driver.submit(OUTSIDER, {"code": w.code(OUTSIDER)}).errors
    home = w.home_shows(OUTSIDER, "You are enrolled")
    assert [b.label for b in home.buttons] == ["Re-enroll"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=tmp_path) as w:
        yield w


def test_a_long_list_is_cut_to_fit_slacks_limits(world: KukeyWorld) -> None:
    """Someone with more keys than the Home shows sees the first ten and how many more, with the command that
    lists them all; the view stays within Slack's 100 blocks (the fake refuses more)."""
    for sub, count in (("alpha-trading", 5), ("beta-spot", 5), ("delta-research", 3)):  # 5 keys at most each
        seed_keys(world, sub, count)  # recorded as requested by the responder
    home = world.open_home("U0DAVE001")
    assert sum(1 for b in home.buttons if b.label == "Rotate") == 10
    assert "and 3 more — see `/kukey list`" in home.content and len(home.blocks) <= 100


def test_a_home_slack_refuses_is_logged_and_nothing_else_changes(world: KukeyWorld,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """An app installed without its Home tab: opening it is acked, kukey logs that Slack refused the Home
    (not_enabled) and tells nobody; commands keep working."""
    world.fake.disable_home_tab()
    assert world.driver.open_home(REQUESTER).ok
    world.wait(lambda: any(r.getMessage() == "home tab not published" and getattr(r, "error", "") == "not_enabled"
                           for r in caplog.records), what="the refusal logged")
    assert world.fake.home(REQUESTER) is None and world.fake.ephemerals(REQUESTER) == []
    assert "/kukey create" in world.driver.slash(REQUESTER, "C0TRADING", "help").message()["text"]


def test_enroll_on_an_old_home_of_someone_enrolled_since_changes_nothing(world: KukeyWorld) -> None:
    """Enroll clicked on a Home from before the person enrolled (Slack refused the refresh) starts no new
    enrollment and opens no form: they are told to use Re-enroll."""
    assert "Enroll" in [b.label for b in world.open_home(REQUESTER).buttons]
    world.fake.disable_home_tab()  # the Home kukey would publish next is refused: the old one stays
    world.enroll(REQUESTER)
    seed = world.seeds[REQUESTER]
    world.driver.click(REQUESTER, "Enroll", home=True)
    Story(world).private(REQUESTER, "You are already enrolled; *Re-enroll*")
    assert world.fake.modal(REQUESTER) is None
    assert rows(world.database_url, "SELECT active, pending_seed_enc IS NULL FROM enrollment") == [(1, 1)]
    assert world.seeds[REQUESTER] == seed
