"""Rotate, revoke, list, pending, dry-run and the create form."""

from __future__ import annotations

from pathlib import Path

from kukey_sandbox.world import (
    APPROVALS,
    APPROVER,
    APPROVER2,
    INCIDENT,
    REQUESTER,
    RESPONDER,
    TRADING,
    KukeyWorld,
    Story,
)


def _ids(world: KukeyWorld, sub: str = "alpha-trading") -> list[str]:
    return sorted(k["api_key"] for k in world.sandbox.keys(sub))


def test_rotate_deletes_old_key_after_reveal(story: Story) -> None:
    """Rotate: a new key with the old one's permissions, IPs and expiry; the old key goes right after."""
    old = story.create_key()
    post = story.request(f"rotate alpha-trading {old} quarterly rotation")
    assert not story.approve(post, APPROVER2).errors
    new = story.reveal()
    story.w.wait(lambda: _ids(story.w) == [new], what="old key deleted at KuCoin")
    key = story.w.sandbox.keys("alpha-trading")[0]
    assert "Spot" in key["permissions"] and key["remark"].startswith("KK-")
    story.in_thread(post, f"Old key `{old}` was deleted")


def test_rotate_with_grace_keeps_old_key_until_then(story: Story) -> None:
    """With grace=60 both keys live until the scheduler deletes the old one an hour later."""
    old = story.create_key()
    post = story.request(f"rotate alpha-trading {old} grace=60")
    assert not story.approve(post, APPROVER2).errors
    new = story.reveal()
    assert _ids(story.w) == sorted([old, new])
    note = story.in_thread(post, f"Old key `{old}` will be deleted at")
    assert new in note.content and "UTC" in note.content
    story.w.advance(61 * 60)
    story.w.wait(lambda: _ids(story.w) == [new], what="old key deleted after the grace period")
    story.in_thread(post, "Rotation done")


def test_incident_revoke_one_and_all(story: Story) -> None:
    """In the incident channel a responder revokes with their own TOTP, no second person; both channels hear."""
    first = story.create_key()
    second = story.create_key()
    story.w.driver.slash(RESPONDER, INCIDENT, f"revoke alpha-trading {first} leaked in CI logs")
    assert not story.w.submit(RESPONDER, {"code": story.w.code(RESPONDER)}).errors
    story.w.wait(lambda: _ids(story.w) == [second], what="one key revoked")
    story.w.driver.slash(RESPONDER, INCIDENT, "revoke alpha-trading all")
    assert not story.w.submit(RESPONDER, {"code": story.w.code(RESPONDER)}).errors
    story.w.wait(lambda: _ids(story.w) == [], what="all keys revoked")
    for channel in (INCIDENT, APPROVALS):
        story.w.wait(lambda c=channel: sum("Incident revoke" in m.content for m in story.w.fake.messages(c)) == 2,
                     what=f"announced in {channel}")


def test_revoke_outside_incident_channel_needs_approval(story: Story) -> None:
    """Elsewhere a revoke is a request like a create: nothing is deleted until a second person approves."""
    key = story.create_key()
    post = story.request(f"revoke alpha-trading {key} no longer used")
    assert _ids(story.w) == [key]
    assert not story.approve(post, APPROVER).errors
    story.w.wait(lambda: _ids(story.w) == [], what="revoked after approval")


def test_list_and_pending(story: Story) -> None:
    """`list` joins KuCoin's keys with kukey's records; `pending` shows open requests; no secret shown."""
    key = story.create_key()
    story.request("create beta-spot perms=Spot ips=203.0.113.5 expire=30")
    ack = story.w.driver.slash(REQUESTER, TRADING, "pending")
    assert "beta-spot" in ack.message()["text"] and "pending" in ack.message()["text"]
    story.w.driver.slash(REQUESTER, TRADING, "list alpha-trading")
    listing = story.private(REQUESTER, "*alpha-trading*: ")
    assert key in listing.content and "requested by" in listing.content
    assert "Secret" not in listing.content


def test_dry_run_explains_without_creating(story: Story) -> None:
    """`create ... dry-run` explains the rule and approvers and creates no request."""
    story.w.driver.slash(REQUESTER, TRADING, "create alpha-trading perms=Spot dry-run")
    explained = story.private(REQUESTER, "Dry run")
    assert "needs an IP whitelist" in explained.content
    assert story.w.fake.messages(APPROVALS) == []


def test_modal_create(story: Story) -> None:
    """`/kukey create` with no arguments opens a form; submitting it posts the request."""
    story.w.driver.slash(REQUESTER, TRADING, "create")
    result = story.w.submit(REQUESTER, {"sub_account": "alpha-trading", "permissions": ["Spot"],
                                        "ips": "203.0.113.5", "expire": "30 days", "reason": "from the form"})
    assert not result.errors, result.errors
    post = story.w.wait(lambda: next(iter(story.w.fake.messages(APPROVALS)), None), what="request posted")
    assert "from the form" in post.content


def test_socket_mode_happy_path(tmp_path: Path) -> None:
    """The same create, approve and reveal over Socket Mode through the local WebSocket server."""
    with KukeyWorld(home=tmp_path, socket=True) as world:
        for user in (REQUESTER, APPROVER):
            world.enroll(user)
        key = Story(world).create_key()
        assert _ids(world) == [key]
        assert world.fake.unacked() == []


def test_revoke_all_names_keys_kukey_cannot_revoke(story: Story) -> None:
    """`revoke all` deletes kukey's keys and lists a key made outside kukey with what to do about it."""
    from bot.domain.clock import SystemClock
    from bot.domain.keys import KeySpec
    from bot.kucoin.client import KucoinClient
    from bot.kucoin.models import generate_passphrase

    ours = story.create_key()
    creds = story.w.sandbox.master_credentials
    with KucoinClient(base_url=story.w.sandbox.url, api_key=creds.api_key, api_secret=creds.api_secret,
                      api_passphrase=creds.api_passphrase, clock=SystemClock()) as outside:
        foreign = outside.create_key(KeySpec("alpha-trading"), passphrase=generate_passphrase(), remark="manual")
    story.w.driver.slash(RESPONDER, INCIDENT, "revoke alpha-trading all")
    assert not story.w.submit(RESPONDER, {"code": story.w.code(RESPONDER)}).errors
    story.w.wait(lambda: _ids(story.w) == [foreign.api_key], what="kukey's key revoked")
    note = story.w.wait(lambda: next((m for m in story.w.fake.messages(INCIDENT) if ours in m.content), None),
                        what="announcement")
    assert foreign.api_key in note.content and "web UI" in note.content


def test_reveal_offer_falls_back_to_a_direct_message(story: Story) -> None:
    """If the requester can no longer get an ephemeral where they asked (they left the channel), the Reveal
    button comes by direct message, and the secret is still shown only ephemerally."""
    post = story.request("create alpha-trading perms=Spot ips=203.0.113.5 expire=30")
    story.w.fake.leave(TRADING, REQUESTER)
    assert not story.approve(post, APPROVER).errors
    dm = story.w.fake.dm(REQUESTER)
    story.w.wait(lambda: any("Reveal key" in m.button_labels for m in story.w.fake.messages(dm)), what="DM offer")
    key = story.reveal()
    assert _ids(story.w) == [key]
    assert not any("Secret" in m.content for m in story.w.fake.messages(dm))


def test_status_of_a_request(story: Story) -> None:
    """`status <id>` shows the state, approvals and deadlines of one request; an unknown id is said so."""
    post = story.request("create alpha-trading perms=Spot ips=203.0.113.5 expire=30")
    request_id = post.content.split("request `")[1].split("`")[0]
    ack = story.w.driver.slash(REQUESTER, TRADING, f"status {request_id}")
    assert "pending" in ack.message()["text"] and "0/1 approvals" in ack.message()["text"]
    ack = story.w.driver.slash(REQUESTER, TRADING, "status KK-ZZZZZZZZ")
    assert "no request" in ack.message()["text"]
