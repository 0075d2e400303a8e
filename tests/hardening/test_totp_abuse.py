"""TOTP abuse: guessing locks the guesser out (also when the guesses arrive at once), the lockout ends,
replayed and borrowed codes are refused, and clock drift is tolerated by exactly one step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from kukey_sandbox.world import APPROVALS, APPROVER, APPROVER2, REQUESTER, RESPONDER, KukeyWorld, Story
from tests.hardening.helpers import audit_actions, concurrently
from tests.hardening.test_races import _drivers, _post, _second_bot, _submission
from tests.scenarios.conftest import enrolled

LOCKOUT_MINUTES = 15  # the policy default
MAX_FAILURES = 5
GUESSES = 40


def _wrong(world: KukeyWorld, user: str, n: int = 0) -> str:
    """A code that is not valid for `user` anywhere in the drift window (the n-th such code)."""
    totp = pyotp.TOTP(world.seeds[user])
    now = world.now().timestamp()
    valid = {totp.at(now + 30 * k) for k in (-1, 0, 1)}
    return next(c for c in (f"{i:06d}" for i in range(n, n + 10)) if c not in valid)


def _open_approval(story: Story, user: str, text: str = "create alpha-trading perms=Spot ips=203.0.113.5") -> None:
    """Post a request and open `user`'s TOTP modal for approving it."""
    post = story.request(text)
    story.w.driver.click(user, "Approve", channel=APPROVALS, ts=post.ts)
    story.w.wait(lambda: story.w.fake.modal(user) is not None, what="the TOTP modal")


def _try_when_open(story: Story, user: str, code: str) -> str:
    story.w.wait(lambda: story.w.fake.modal(user) is not None, what="the TOTP modal")
    return _try(story, user, code)


def _try(story: Story, user: str, code: str) -> str:
    """Submit `code` in the user's open modal; the inline error ('' when accepted)."""
    return story.w.driver.submit(user, {"code": code}).errors.get("code", "")


def test_guessing_locks_out_after_five_failures_until_the_lockout_ends(story: Story) -> None:
    """Four wrong codes are 'not valid', the fifth locks the approver out; during the lockout even the right
    code is refused and another request's Approve says so at once; after the lockout the right code works."""
    world = story.w
    _open_approval(story, APPROVER)
    errors = [_try(story, APPROVER, _wrong(world, APPROVER, i)) for i in range(MAX_FAILURES)]
    assert all("not valid" in e for e in errors[:-1]) and "locked out" in errors[-1], errors
    assert "locked out" in _try(story, APPROVER, world.code(APPROVER))
    world.driver.close(APPROVER)
    second = story.request("create beta-spot perms=Spot ips=203.0.113.5")
    world.advance(LOCKOUT_MINUTES * 60 - 60)
    world.driver.click(APPROVER, "Approve", channel=APPROVALS, ts=second.ts)
    story.private(APPROVER, "locked out until")
    assert world.fake.modal(APPROVER) is None
    world.advance(60)
    world.driver.click(APPROVER, "Approve", channel=APPROVALS, ts=second.ts)
    assert _try_when_open(story, APPROVER, world.code(APPROVER)) == ""
    story.private(REQUESTER, "Reveal key")
    actions = audit_actions(world)
    assert actions.count("totp.failed") == MAX_FAILURES and actions.count("totp.locked") == 1


@pytest.fixture
def story_on_each_backend(tmp_path: Path, database_url: str) -> Iterator[Story]:
    """The enrolled story world, on SQLite and on PostgreSQL."""
    with KukeyWorld(home=tmp_path, database_url=database_url) as world:
        yield enrolled(world)


def test_guesses_sent_at_once_get_no_more_tries(story_on_each_backend: Story) -> None:
    """Forty different wrong codes submitted at the same moment, split across two bot processes on one
    database (SQLite, then PostgreSQL), are compared at most five times: the rest are refused as locked
    out, unchecked."""
    story = story_on_each_backend
    world = story.w
    other, url = _second_bot(world)
    try:
        drivers = _drivers(world, world.driver.url, url)
        _open_approval(story, APPROVER)
        bodies = [_submission(world, APPROVER, {"code": _wrong(world, APPROVER, i)}) for i in range(GUESSES)]
        acks = concurrently([lambda b=b, d=drivers[i % 2]: _post(d, b) for i, b in enumerate(bodies)],
                            workers=GUESSES)
    finally:
        other.stop()
    errors = [a.errors.get("code", "") for a in acks]
    assert sum("not valid" in e for e in errors) == MAX_FAILURES - 1, errors
    assert sum("locked out" in e for e in errors) == GUESSES - MAX_FAILURES + 1, errors
    actions = audit_actions(world)
    assert actions.count("totp.failed") == MAX_FAILURES and actions.count("totp.locked") == 1
    assert "locked out" in _try(story, APPROVER, world.code(APPROVER))


def test_replayed_code_is_refused(story: Story) -> None:
    """A code that approved one request is refused on another request within its step ('already used'),
    and the refusal does not count as a guess."""
    world = story.w
    code = world.code(APPROVER2)
    _open_approval(story, APPROVER2)
    assert _try(story, APPROVER2, code) == ""
    _open_approval(story, APPROVER2, "create beta-spot perms=Spot ips=203.0.113.5")
    assert "already used" in _try(story, APPROVER2, code)
    actions = audit_actions(world)
    assert actions.count("totp.failed") == 0 and actions.count("totp.refused") == 1


def test_another_users_code_is_refused(story: Story) -> None:
    """An approver who types the requester's (or a colleague's) current code is refused: codes are bound to
    the person whose seed made them."""
    world = story.w
    _open_approval(story, APPROVER)
    for other in (REQUESTER, RESPONDER, APPROVER2):
        assert "not valid" in _try(story, APPROVER, world.code(other, fresh=False)), other
    assert audit_actions(world).count("totp.failed") == 3
    assert _try(story, APPROVER, world.code(APPROVER)) == ""


def test_drift_of_one_step_is_accepted_and_two_are_refused(story: Story) -> None:
    """A code from the step before or after the bot's clock is accepted; from two steps off it is not."""
    world = story.w
    world.advance(60)  # the steps around now are unused
    _open_approval(story, APPROVER)
    assert "not valid" in _try(story, APPROVER, world.code(APPROVER, offset_steps=-2, fresh=False))
    assert "not valid" in _try(story, APPROVER, world.code(APPROVER, offset_steps=2, fresh=False))
    assert _try(story, APPROVER, world.code(APPROVER, offset_steps=-1, fresh=False)) == ""
    _open_approval(story, APPROVER, "create beta-spot perms=Spot ips=203.0.113.5")
    assert _try(story, APPROVER, world.code(APPROVER, offset_steps=1, fresh=False)) == ""
