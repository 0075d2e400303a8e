"""After whole lifecycles, no secret issued during the test is anywhere it must not be."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logs import configure_logging
from kukey_sandbox.world import APPROVALS, APPROVER, APPROVER2, INCIDENT, REQUESTER, RESPONDER, KukeyWorld, Story


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[tuple[KukeyWorld, io.StringIO]]:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    handler = configure_logging("DEBUG", stream=stream)
    try:
        with KukeyWorld(home=tmp_path) as world:
            yield world, stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for h in saved[1]:
            if h not in root.handlers:
                root.addHandler(h)


def _issued(world: KukeyWorld) -> set[str]:
    """Every API secret and passphrase shown to a requester, every TOTP seed and every code typed."""
    found: set[str] = set()
    for user in (REQUESTER,):
        for e in world.fake.ephemerals(user) + [m for m in world.fake.messages(world.fake.dm(user))]:
            for label in ("Secret", "Passphrase"):
                for m in re.finditer(rf"{label}:\*? `([^`]+)`", e.content):
                    found.add(m.group(1))
    found |= set(world.seeds.values())
    found |= {c for c in world.codes}
    return found


def _public_messages(world: KukeyWorld) -> list[str]:
    texts = []
    for channel in world.fake.world.channels.values():
        for msg in world.fake.messages(channel.id):
            texts.append(msg.content)
            texts.extend(r.content for r in world.fake.thread(channel.id, msg.ts))
    return texts


def test_no_secret_in_database_logs_or_public_messages(logged: tuple[KukeyWorld, io.StringIO]) -> None:
    """Create, rotate, revoke and enrollments leave no secret, passphrase, seed or code in the SQLite
    files (main and WAL, raw bytes), the log output, or any non-ephemeral Slack message."""
    world, stream = logged
    for user in (REQUESTER, APPROVER, APPROVER2, RESPONDER):
        world.enroll(user)
    story = Story(world)
    first = story.create_key()
    post = story.request(f"rotate alpha-trading {first} rotation")
    assert not story.approve(post, APPROVER2).errors
    second = story.reveal()
    world.wait(lambda: [k["api_key"] for k in world.sandbox.keys("alpha-trading")] == [second], what="rotated")
    world.driver.slash(RESPONDER, INCIDENT, "revoke alpha-trading all")
    assert not world.submit(RESPONDER, {"code": world.code(RESPONDER)}).errors
    world.wait(lambda: world.sandbox.keys("alpha-trading") == [], what="revoked")
    world.stop_bot()

    secrets = _issued(world)
    long_secrets = {s for s in secrets if len(s) >= 8}
    codes = {s for s in secrets if len(s) < 8}
    assert len([s for s in long_secrets if "-" in s]) >= 2, "expected two API secrets to be issued"

    raw = b"".join(p.read_bytes() for p in world.home.glob("kukey.db*"))
    for value in long_secrets:
        assert value.encode() not in raw, "a secret is in the SQLite files"
    logs = stream.getvalue()
    assert logs, "the bot logged nothing"
    for value in long_secrets:
        assert value not in logs, "a secret is in the log output"
    for code in codes:
        assert not re.search(rf"(?<!\d){code}(?!\d)", logs), "a TOTP code is in the log output"
    public = "\n".join(_public_messages(world))
    for value in secrets:
        assert value not in public, "a secret is in a non-ephemeral Slack message"
    assert APPROVALS and first in public  # the public record names keys, never their secrets
