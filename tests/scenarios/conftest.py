"""A running kukey world per test: KuCoin sandbox, Slack fake, the real bot over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kukey_sandbox.world import APPROVER, APPROVER2, REQUESTER, RESPONDER, KukeyWorld, Story


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=tmp_path) as w:
        yield w


@pytest.fixture
def story(world: KukeyWorld) -> Story:
    """The world with the requester, both approvers and the responder enrolled."""
    return enrolled(world)


def enrolled(world: KukeyWorld) -> Story:
    """The requester, both approvers and the responder enroll; a Story on the world."""
    for user in (REQUESTER, APPROVER, APPROVER2, RESPONDER):
        world.enroll(user)
    return Story(world)


@pytest.fixture(params=["http", "socket"])
def two_transports(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Story]:
    """The bot over HTTP, then over Socket Mode, with the requester and an approver enrolled (and their
    enrollment messages updated, so that no answer from then is still on its way when a test holds one)."""
    with KukeyWorld(home=tmp_path, socket=request.param == "socket") as world:
        story = Story(world)
        for user in (REQUESTER, APPROVER):
            world.enroll(user)
            story.private(user, "enrollment confirmed")
        yield story
