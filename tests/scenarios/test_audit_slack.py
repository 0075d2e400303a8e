"""The audit log as Slack users meet it: `/kukey audit` for admins, checkpoints in the audit channel."""

from __future__ import annotations

import re
import subprocess
import sys

from kukey_sandbox.world import ADMIN, AUDIT, OUTSIDER, TRADING, KukeyWorld, Story


def _verify(world: KukeyWorld, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", **world.env()}
    return subprocess.run([sys.executable, "-m", "bot", "audit", "verify", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_admin_reads_audit_and_posts_checkpoint(story: Story) -> None:
    """An admin sees the newest events and a checkpoint lands in the audit channel; it verifies."""
    world = story.w
    world.fake.join(TRADING, ADMIN)
    world.driver.slash(ADMIN, TRADING, "audit 5")
    shown = story.private(ADMIN, "Newest first")
    assert "totp.enrolled" in shown.content
    posted = world.wait(lambda: next((m for m in world.fake.messages(AUDIT) if "checkpoint" in m.content), None),
                        what="checkpoint posted")
    checkpoint = re.search(r"`(\d+:[0-9a-f]{64})`", posted.content).group(1)
    world.stop_bot()
    result = _verify(world, "--checkpoint", checkpoint)
    assert result.returncode == 0, result.stdout + result.stderr


def test_non_admin_refused_audit(story: Story) -> None:
    """Anyone but an admin is refused, and the refusal is itself recorded."""
    story.w.driver.slash(OUTSIDER, TRADING, "audit")
    story.private(OUTSIDER, "Only kukey admins")
    assert not any("checkpoint" in m.content for m in story.w.fake.messages(AUDIT))


def test_periodic_checkpoint(world: KukeyWorld) -> None:
    """The scheduler posts a checkpoint every checkpoint_minutes (60 by default)."""
    world.advance(61 * 60)
    world.wait(lambda: any("checkpoint" in m.content for m in world.fake.messages(AUDIT)), what="checkpoint")
