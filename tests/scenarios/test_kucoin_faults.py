"""KuCoin misbehaves; kukey loses nothing and does nothing twice."""

from __future__ import annotations

from kukey_sandbox.world import APPROVALS, APPROVER, APPROVER2, REQUESTER, KukeyWorld, Story

CREATE = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 bot"
KEY_PATH = "/api/v1/sub/api-key"


def _keys(world: KukeyWorld) -> list[str]:
    return sorted(k["api_key"] for k in world.sandbox.keys("alpha-trading"))


def _approved(story: Story) -> object:
    post = story.request(CREATE)
    assert not story.approve(post, APPROVER).errors
    story.private(REQUESTER, "Reveal key")
    return post


def _click_reveal(story: Story) -> None:
    story.w.driver.click(REQUESTER, "Reveal key")
    assert not story.w.submit(REQUESTER, {"code": story.w.code(REQUESTER)}).errors


def test_lost_create_response_ends_with_one_key_delivered_once(story: Story) -> None:
    """KuCoin commits the create but the answer is lost: kukey finds the key by its remark, deletes it
    (its secret is unknowable), tells the requester, and the next reveal delivers exactly one key."""
    world = story.w
    _approved(story)
    world.sandbox.drop_next(path=KEY_PATH, method="POST", commit=True)
    _click_reveal(story)
    story.private(REQUESTER, "answer was lost")
    assert _keys(world) == []
    key = story.reveal()
    assert _keys(world) == [key]
    assert sum("Secret" in e.content for e in world.fake.ephemerals(REQUESTER)) == 1


def test_5xx_storm_keeps_the_request(story: Story) -> None:
    """KuCoin answers 503 to the create: nothing is left at KuCoin, the requester hears KuCoin is not
    answering, the approval stands, and a later reveal works."""
    world = story.w
    _approved(story)
    world.sandbox.fail_next(1, status=503, code="503000", path=KEY_PATH, method="POST")
    _click_reveal(story)
    story.private(REQUESTER, "kukey is checking")
    world.advance(15)  # the recovery job looks for the key by its remark, finds none, frees the request
    story.private(REQUESTER, "could not be shown")
    assert _keys(world) == []
    key = story.reveal()
    assert _keys(world) == [key]


def test_429_storm_is_retried_within_limits(story: Story) -> None:
    """429 without headers (overload) is backed off and retried; the reveal still completes once."""
    world = story.w
    _approved(story)
    world.sandbox.rate_limit_next(2, headers=False, path=KEY_PATH)
    key = story.reveal()
    assert _keys(world) == [key]


def test_failed_old_key_delete_waits_visibly_and_is_retried(story: Story) -> None:
    """Deleting the old key of a rotation fails: the thread says so, the scheduler retries, it goes."""
    world = story.w
    old = story.create_key()
    post = story.request(f"rotate alpha-trading {old}")
    assert not story.approve(post, APPROVER2).errors
    world.sandbox.fail_next(20, status=503, code="503000", path=KEY_PATH, method="DELETE")
    new = story.reveal()
    story.in_thread(post, "kukey will retry")
    assert _keys(world) == sorted([old, new])
    world.sandbox.clear_faults()

    def minutes_pass() -> bool:  # the scheduler retries every minute; let minutes pass until it is done
        world.advance(60)
        return any("Rotation done" in m.content for m in world.fake.thread(APPROVALS, post.ts))

    world.wait(minutes_pass, what="old key deleted on a retry")
    assert _keys(world) == [new]


def test_clock_skew_is_corrected(story: Story) -> None:
    """KuCoin's clock is 20 s ahead: the client re-reads the server time on 400002 and the create works."""
    story.w.sandbox.set_clock_skew(20_000)
    key = story.create_key()
    assert _keys(story.w) == [key]


def test_429_storm_beyond_the_limits_tells_the_user_and_keeps_the_request(story: Story) -> None:
    """KuCoin keeps answering 429 (overload, no headers) past the client's retry budget: nothing is created,
    the requester is told KuCoin is busy, the approval stands, and a later reveal works."""
    world = story.w
    _approved(story)
    world.sandbox.rate_limit_next(50, headers=False, path=KEY_PATH, method="POST")
    _click_reveal(story)
    told = story.private(REQUESTER, "could not be shown")
    assert "busy" in told.content.lower() or "rate" in told.content.lower(), told.content
    assert _keys(world) == []
    world.sandbox.clear_faults()
    key = story.reveal()
    assert _keys(world) == [key]
