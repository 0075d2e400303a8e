"""TOTP enrollment: private seed, activation only after a valid code, re-enrollment needs the current code,
and an admin reset from the CLI."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from kukey_sandbox.world import APPROVER, TRADING, KukeyWorld, Story


def _seed_of(world: KukeyWorld, user: str) -> str:
    import re

    text = " ".join(e.content for e in world.fake.ephemerals(user)) + " ".join(
        (m.spec.get("blocks") and str(m.spec["blocks"])) or "" for m in [world.fake.modal(user)] if m)
    found = re.findall(r"Seed \(base32\):\*? `([A-Z2-7]{16,})`", text)
    assert found, text
    return found[-1]


def test_enrollment_needs_a_valid_code_and_stores_no_readable_seed(world: KukeyWorld) -> None:
    """The seed is shown privately; a wrong code does not activate it; a real code does; the database file
    never holds the seed in a readable form."""
    world.driver.slash(APPROVER, TRADING, "enroll")
    seed = _seed_of(world, APPROVER)
    world.seeds[APPROVER] = seed
    assert all(m.content.find(seed) < 0 for m in world.fake.messages(TRADING))
    world.driver.click(APPROVER, "Confirm code")
    bad = world.submit(APPROVER, {"code": "000000" if world.code(APPROVER) != "000000" else "111111"})
    assert "does not match" in bad.errors["code"]
    assert not world.driver.submit(APPROVER, {"code": world.code(APPROVER)}).errors
    Story(world).private(APPROVER, "enrollment confirmed")
    world.stop_bot()
    raw = b"".join(p.read_bytes() for p in world.home.glob("kukey.db*"))
    assert seed.encode() not in raw
    with sqlite3.connect(world.db_path) as db:
        assert db.execute("select active from enrollment where user_id = ?", (APPROVER,)).fetchone() == (1,)


def test_reenrollment_needs_the_current_code(story: Story) -> None:
    """An enrolled user re-enrolls only after proving their current code; the old seed then stops working."""
    world = story.w
    old_seed = world.seeds[APPROVER]
    world.driver.slash(APPROVER, TRADING, "enroll")
    story.private(APPROVER, "already enrolled")
    world.driver.click(APPROVER, "Re-enroll")
    wrong = world.submit(APPROVER, {"code": "000000" if world.code(APPROVER) != "000000" else "111111"})
    assert "not valid" in wrong.errors["code"]
    assert not world.driver.submit(APPROVER, {"code": world.code(APPROVER)}).errors
    new_seed = _seed_of(world, APPROVER)
    assert new_seed != old_seed
    world.seeds[APPROVER] = new_seed
    assert not world.driver.submit(APPROVER, {"code": world.code(APPROVER)}).errors
    post = story.request("create alpha-trading perms=Spot ips=203.0.113.5 expire=30")
    world.seeds[APPROVER] = old_seed
    world.driver.click(APPROVER, "Approve", ts=post.ts)
    assert "not valid" in world.submit(APPROVER, {"code": world.code(APPROVER)}).errors["code"]


def test_admin_reset_from_the_cli(story: Story) -> None:
    """`kukey totp reset <user>` removes the enrollment; that user is then told to enroll."""
    world = story.w
    env = {"PATH": "/usr/bin:/bin", **world.env()}
    result = subprocess.run([sys.executable, "-m", "bot", "totp", "reset", APPROVER, "--by", "ops-admin"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    post = story.request("create alpha-trading perms=Spot ips=203.0.113.5 expire=30")
    world.driver.click(APPROVER, "Approve", ts=post.ts)
    story.private(APPROVER, "/kukey enroll")
    bad = subprocess.run([sys.executable, "-m", "bot", "totp", "reset", "alice@example.com"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "Slack user id" in bad.stderr
