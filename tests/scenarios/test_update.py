"""`/kukey update`: a key's IP whitelist and permissions change under the same approval as a create, in both
transports; the secret stays, nothing is revealed, and a refusal by KuCoin leaves kukey's record as it was."""

from __future__ import annotations

from typing import Any

from kukey_sandbox.world import APPROVALS, APPROVER, REQUESTER, TRADING, KukeyWorld, Story
from tests.databases import rows

UPDATE_PATH = "/api/v1/sub/api-key/update"


def sandbox_key(world: KukeyWorld, api_key: str) -> Any:
    """KuCoin's own record of the key (the sandbox's), secret and passphrase included."""
    return world.sandbox.world.keys[api_key]


def kukey_key(world: KukeyWorld, api_key: str) -> tuple[Any, ...]:
    return rows(world.database_url, "SELECT permissions, ips, expire_days, state FROM api_key WHERE api_key = ?",
                (api_key,))[0]


def request_of(world: KukeyWorld, api_key: str) -> tuple[str, str]:
    """The id and state of the update request about `api_key`."""
    found = rows(world.database_url, "SELECT id, state FROM request WHERE kind = 'update' AND target_api_key = ?",
                 (api_key,))
    assert len(found) == 1, found
    return found[0][0], found[0][1]


def audit_of(world: KukeyWorld, request_id: str) -> list[tuple[str, str]]:
    return [(a, o) for a, o in rows(world.database_url, "SELECT action, outcome FROM audit_event "
                                                        "WHERE request_id = ? ORDER BY seq", (request_id,))]


def test_update_changes_ips_and_permissions_after_approval(two_transports: Story) -> None:
    """The approvers see the key's settings now and after; on approval KuCoin gets the new IPs and
    permissions with the key's own passphrase, the secret and expiry stay, kukey records the new settings,
    the thread and the requester are told, and no Reveal is offered."""
    story = two_transports
    world = story.w
    key = story.create_key()
    before = sandbox_key(world, key)
    secret, passphrase = before.api_secret, before.passphrase
    # the create's own Reveal offer is taken down after its reveal, a moment later: counted once it is gone
    world.wait(lambda: not any("Reveal key" in e.content for e in world.fake.ephemerals(REQUESTER)),
               what="the create's Reveal offer taken down")
    offers = 0
    post = story.request(f"update alpha-trading {key} ips=198.51.100.7,203.0.113.5 perms=Spot,Futures new server")
    assert f"Update key `{key}` in *alpha-trading*" in post.content
    assert "*Now:* General, Spot; IPs 203.0.113.5" in post.content
    assert "*New IP whitelist:* 198.51.100.7, 203.0.113.5" in post.content
    assert not story.approve(post, APPROVER).errors
    story.in_thread(post, f"Key `{key}` was updated at KuCoin: permissions General, Spot, Futures, "
                          "IP whitelist 198.51.100.7, 203.0.113.5.")
    story.private(REQUESTER, "is done. Key")
    after = sandbox_key(world, key)
    assert (after.ips, after.permissions) == (("198.51.100.7", "203.0.113.5"), ("General", "Spot", "Futures"))
    assert (after.api_secret, after.passphrase, after.expire) == (secret, passphrase, "30")
    assert kukey_key(world, key) == ("General,Spot,Futures", "198.51.100.7,203.0.113.5", 30, "active")
    request_id, state = request_of(world, key)
    assert state == "done"
    assert audit_of(world, request_id) == [("request.created", "ok"), ("totp.accepted", "ok"),
                                           ("request.approval", "ok"), ("request.approved", "ok"),
                                           ("key.updated", "ok")]
    world.wait(lambda: "Done" in world.fake.message(APPROVALS, post.ts).content, what="the post says done")
    assert world.fake.message(APPROVALS, post.ts).button_labels == []
    assert len([e for e in world.fake.ephemerals(REQUESTER) if "Reveal key" in e.content]) == offers


def test_kucoin_refusing_the_update_fails_the_request(two_transports: Story) -> None:
    """KuCoin refuses the modify (400100): the thread and the requester hear why, the request ends failed,
    and kukey's record of the key (and KuCoin's) is unchanged."""
    story = two_transports
    world = story.w
    key = story.create_key()
    post = story.request(f"update alpha-trading {key} ips=198.51.100.7")
    world.sandbox.fail_next(1, status=400, code="400100", path=UPDATE_PATH, method="POST")
    assert not story.approve(post, APPROVER).errors
    story.in_thread(post, "The update did not complete: KuCoin refused it")
    story.private(REQUESTER, "failed: KuCoin refused it")
    request_id, state = request_of(world, key)
    assert state == "failed"
    assert kukey_key(world, key) == ("General,Spot", "203.0.113.5", 30, "active")
    assert sandbox_key(world, key).ips == ("203.0.113.5",)
    assert audit_of(world, request_id)[-1] == ("key.update_failed", "failed")
    world.wait(lambda: "Failed" in world.fake.message(APPROVALS, post.ts).content, what="the post says failed")


def refusal(story: Story, text: str) -> str:
    """The one line kukey answers `text` with, privately, when it does not post a request."""
    posts = len(story.w.fake.messages(APPROVALS))
    ack = story.w.driver.slash(REQUESTER, TRADING, text)
    answered = ack.message().get("text") if ack.message() else None
    if not answered:
        seen = {e.ts for e in story.w.fake.ephemerals(REQUESTER)}
        note = story.w.wait(lambda: next((e for e in story.w.fake.ephemerals(REQUESTER) if e.ts not in seen), None),
                            what="a private answer")
        answered = note.content
    assert len(story.w.fake.messages(APPROVALS)) == posts
    return str(answered)


def test_refusals_are_one_line(story: Story) -> None:
    """Bad IPs, unknown permissions and nothing to change are refused with the command's form; a key kukey
    does not know or does not hold, an update that changes nothing, and settings the policy forbids get
    one line each; nothing is posted for approval."""
    key = story.create_key()
    read_only = story.create_key("create alpha-trading perms=General expire=30 reporting")
    usage = "Usage: `/kukey update <sub-account> <apiKey>"
    assert refusal(story, f"update alpha-trading {key} ips=1.2.3.999").startswith(
        "`1.2.3.999` is not an IPv4 or IPv6 address or CIDR network.\n" + usage)
    assert refusal(story, f"update alpha-trading {key} perms=Spot,Lending").startswith(
        "Unknown permission `Lending`: choose from General, Spot, Futures, Margin, InnerTransfer.\n" + usage)
    assert refusal(story, f"update alpha-trading {key} because").startswith(
        "Nothing to change: give `perms=`, `ips=` or both.\n" + usage)
    unknown = "0123456789abcdef01234567"
    assert refusal(story, f"update alpha-trading {unknown} ips=198.51.100.7") == (
        f"kukey knows no key {unknown} in alpha-trading; see `/kukey list alpha-trading`.")
    assert refusal(story, f"update alpha-trading {key} ips=203.0.113.5 perms=Spot") == (
        f"Nothing would change: key {key} already has permissions General, Spot, IP whitelist 203.0.113.5.")
    assert refusal(story, f"update alpha-trading {key} perms=Spot,InnerTransfer") == (
        "• InnerTransfer is not allowed for `alpha-trading` (rules[0] allows General, Spot, Futures, Margin).")
    assert refusal(story, f"update alpha-trading {read_only} perms=Spot") == (
        "• A key with Spot needs an IP whitelist: add ips=...")
    revoke = story.request(f"revoke alpha-trading {key} done with it")
    assert not story.approve(revoke, APPROVER).errors
    story.w.wait(lambda: key not in {k["api_key"] for k in story.w.sandbox.keys("alpha-trading")}, what="revoked")
    story.w.wait(lambda: any("1 key deleted" in m.content for m in story.w.fake.messages(APPROVALS)),
                 what="the revoke announced")
    story.private(REQUESTER, "1 key deleted")  # the requester's note about the revoke, before the next answer
    assert refusal(story, f"update alpha-trading {key} ips=198.51.100.7") == (
        f"kukey does not hold key {key} (deleted): it can update only active keys it created, whose passphrase "
        "it keeps.")
    refused = rows(story.w.database_url, "SELECT count(*) FROM audit_event WHERE action = 'command.refused'")
    assert refused[0][0] == 5


def test_the_requester_cannot_approve_their_own_update(story: Story) -> None:
    """The two-person rule holds for updates: the requester's own approval is refused and nothing changes."""
    key = story.create_key()
    post = story.request(f"update alpha-trading {key} ips=198.51.100.7")
    story.w.driver.click(REQUESTER, "Approve", channel=APPROVALS, ts=post.ts)
    assert story.private(REQUESTER, "cannot approve your own request")
    assert sandbox_key(story.w, key).ips == ("203.0.113.5",)
    assert request_of(story.w, key)[1] == "pending"


def test_an_update_whose_answer_was_lost_is_sent_again(story: Story) -> None:
    """KuCoin applies the update but its answer is lost: kukey sends the same whole state again (harmless),
    and the request ends done with the new settings recorded once."""
    world = story.w
    key = story.create_key()
    post = story.request(f"update alpha-trading {key} ips=198.51.100.7")
    world.sandbox.drop_next(path=UPDATE_PATH, method="POST", commit=True)
    assert not story.approve(post, APPROVER).errors
    story.in_thread(post, f"Key `{key}` was updated at KuCoin")
    assert world.sandbox.call_counts()["POST " + UPDATE_PATH] == 2
    assert sandbox_key(world, key).ips == ("198.51.100.7",)
    assert kukey_key(world, key)[:2] == ("General,Spot", "198.51.100.7")
    request_id, state = request_of(world, key)
    assert state == "done" and [a for a, _ in audit_of(world, request_id)].count("key.updated") == 1


def test_an_update_granted_in_part_is_recorded_as_granted(story: Story) -> None:
    """KuCoin does not grant Futures on a sub-account that has not opened it: kukey records what it granted
    and tells the requester it is less than asked."""
    key = story.create_key("create beta-spot perms=Spot ips=203.0.113.5 expire=30 bot")
    post = story.request(f"update beta-spot {key} perms=Spot,Futures")
    assert not story.approve(post, APPROVER).errors
    story.private(REQUESTER, "Note: KuCoin granted General, Spot, not everything you asked for "
                             "(General, Spot, Futures).")
    story.in_thread(post, f"Key `{key}` was updated at KuCoin: permissions General, Spot, IP whitelist")
    assert kukey_key(story.w, key)[0] == "General,Spot"


def test_kucoin_not_answering_fails_the_update_and_says_so(story: Story) -> None:
    """KuCoin answers 503 to every try: the update ends failed, the requester is told KuCoin did not answer
    and to send it again, and kukey's record of the key is unchanged."""
    world = story.w
    key = story.create_key()
    post = story.request(f"update alpha-trading {key} ips=198.51.100.7")
    world.sandbox.fail_next(5, status=503, code="503000", path=UPDATE_PATH, method="POST")
    assert not story.approve(post, APPROVER).errors
    told = story.private(REQUESTER, "failed: KuCoin did not answer")
    assert "send the update again" in told.content
    story.in_thread(post, "kukey's record of the key is unchanged")
    assert request_of(world, key)[1] == "failed"
    assert kukey_key(world, key)[:2] == ("General,Spot", "203.0.113.5")
