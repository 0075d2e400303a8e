"""The admins' weekly digest, in both transports: once a week, a direct message to each admin listing the
keys due for rotation, the keys expiring soon, the pending requests and the keys kukey did not create."""

from __future__ import annotations

from typing import Any

from kukey_sandbox.seeding import seed_keys
from kukey_sandbox.world import ADMIN, REQUESTER, KukeyWorld, Story
from tests.databases import rows
from tests.scenarios.test_reminders import DAY, NEVER, run_job

DIGEST = "weekly_digest"


def digests(w: KukeyWorld, user: str = ADMIN) -> list[Any]:
    return [m for m in w.fake.messages(w.fake.dm(user)) if "kukey weekly digest" in m.content]


def test_the_digest_goes_to_the_admins_once_a_week_with_what_needs_them(two_transports: Story) -> None:
    """Each week's digest lists what waits for the admins then: a key expiring within the week, a key kukey did
    not create, later the keys past their rotation age, a pending request and the key that expired meanwhile;
    one digest per week, one audit event each, and none to people outside the admins group."""
    story, w = two_transports, two_transports.w
    old = story.create_key(NEVER)
    expiring = story.create_key("create alpha-trading perms=Spot ips=203.0.113.5 expire=90 bot")
    (external,) = seed_keys(w, "beta-spot", 1, record=False)
    run_job(w, 85 * DAY, DIGEST)  # the hourly reconciliation runs first and finds the external key
    (first,) = digests(w)
    assert "*Keys expiring soon* (1)" in first.content and f"`{expiring}` in *alpha-trading* expires" in first.content
    assert "*Keys kukey did not create* (1)" in first.content and f"`{external}` in *beta-spot*" in first.content
    assert "*Keys due for rotation* (0)" in first.content and "*Pending requests* (0)" in first.content
    w.advance(7 * DAY - 300)  # the expiring key expired (KuCoin still lists it, so kukey holds it as active)
    pending = story.request("create beta-spot perms=Spot ips=203.0.113.5 desk bot")
    run_job(w, 600, DIGEST)
    first_again, second = digests(w)
    assert first_again.ts == first.ts
    assert "*Keys due for rotation* (2)" in second.content and f"`/kukey rotate alpha-trading {old}`" in second.content
    assert "*Pending requests* (1)" in second.content and "New API key for *beta-spot*" in second.content
    assert f"`{expiring}` in *alpha-trading* expired" in second.content and pending.ts
    assert rows(w.database_url, "SELECT count(*) FROM audit_event WHERE action = 'digest.sent'") == [(2,)]
    assert digests(w, REQUESTER) == []
