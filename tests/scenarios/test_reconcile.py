"""Reconciliation: keys deleted outside kukey, keys kukey never made, and keys due for rotation."""

from __future__ import annotations

import subprocess
import sys

from bot.domain.clock import SystemClock
from bot.domain.keys import KeySpec, Permission
from bot.kucoin.client import KucoinClient
from bot.kucoin.models import generate_passphrase
from kukey_sandbox.world import APPROVALS, KukeyWorld, Story


def _outside_client(world: KukeyWorld) -> KucoinClient:
    creds = world.sandbox.master_credentials
    return KucoinClient(base_url=world.sandbox.url, api_key=creds.api_key, api_secret=creds.api_secret,
                        api_passphrase=creds.api_passphrase, clock=SystemClock())


def test_scheduled_reconcile_marks_gone_reports_unknown_and_due(story: Story) -> None:
    """The hourly job marks a key deleted at KuCoin as gone, reports a key made outside kukey once, and
    lists keys past the rotation age with the exact rotate command."""
    world = story.w
    ours = story.create_key()
    kept = story.create_key()
    outside = _outside_client(world)
    try:
        made = outside.create_key(KeySpec("alpha-trading", frozenset({Permission.GENERAL})),
                                  passphrase=generate_passphrase(), remark="by-hand")
        assert world.sandbox.remove_key_out_of_band("alpha-trading", ours)  # deleted in KuCoin's web UI
    finally:
        outside.close()
    world.advance(91 * 24 * 3600)  # past the 90-day rotation age, and past the hourly schedule
    report = world.wait(lambda: next((m for m in world.fake.messages(APPROVALS) if "reconciliation" in m.content),
                                     None), what="reconciliation report")
    assert made.api_key in report.content and "not created by kukey" in report.content
    assert f"`{ours}` in *alpha-trading* is gone" in report.content
    world.driver.slash("U0ALICE01", "C0TRADING", "list alpha-trading")
    listing = story.private("U0ALICE01", "*alpha-trading*: ")
    assert ours not in listing.content and "not created by kukey" in listing.content
    assert f"/kukey rotate alpha-trading {kept}" in report.content


def test_reconcile_cli(story: Story) -> None:
    """`kukey reconcile --no-post` prints the findings and exits 0."""
    world = story.w
    key = story.create_key()
    world.stop_bot()
    env = {"PATH": "/usr/bin:/bin", **world.env()}
    result = subprocess.run([sys.executable, "-m", "bot", "reconcile", "--no-post"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Everything matches KuCoin" in result.stdout, result.stdout
    assert key
