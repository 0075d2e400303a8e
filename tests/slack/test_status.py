"""`/kukey status <id>` and `/kukey pending` say what fits each kind of request: approvals and deadlines for
one under approval, who commanded it for one that needs no approval, and a kill switch's progress and outcome."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from bot.services.inventory import KillProgress, RequestStatus
from bot.services.ports import RequestView
from bot.slack import status

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
KEY = "6f1e2d3c4b5a69788796a5b4"
BASE = RequestView(id="KK-7F3Q9C2M", kind="create", state="pending", requester="U0ALICE01", sub_account="alpha",
                   permissions=frozenset(), ips=(), expire_days=30, reason="bot", approvals_needed=1,
                   approvers=(), created_at=NOW, expires_at=NOW + timedelta(hours=1))
KILL = dataclasses.replace(BASE, kind="kill_switch", state="revoking", sub_account="(every sub-account)",
                           approvals_needed=0, incident=True, revoke_all=True, origin_channel="C0INCIDENT",
                           reason="leak")


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, ["New API key for *alpha*, requested by <@U0ALICE01>: *pending* (0/1 approvals)",
          "expires 2026-01-01 10:00 UTC unless approved"]),
    ({"kind": "rotate", "target_api_key": KEY, "state": "approved", "approvers": ("U0BOB0001",),
      "reveal_deadline": NOW + timedelta(minutes=30)},
     [f"Rotate key `{KEY}` in *alpha*", "*approved* (1/1 approvals: <@U0BOB0001>)", "reveal by 2026-01-01 09:30"]),
    ({"kind": "update", "target_api_key": KEY, "state": "done", "approvers": ("U0BOB0001",),
      "resolved_at": NOW + timedelta(minutes=5)},
     [f"Update key `{KEY}` in *alpha*", "*done*", "done at 2026-01-01 09:05 UTC"]),
    ({"kind": "revoke", "target_api_key": KEY, "state": "denied", "resolved_by": "U0BOB0001",
      "resolved_at": NOW + timedelta(minutes=2), "resolution_note": "still in use"},
     [f"Revoke key `{KEY}` in *alpha*", "*denied* (0/1 approvals)",
      "denied by <@U0BOB0001> at 2026-01-01 09:02 UTC: still in use"]),
    ({"state": "expired"}, ["*expired*", "expired 2026-01-01 10:00 UTC without enough approvals"]),
    ({"state": "cancelled", "resolved_by": "U0ALICE01", "resolved_at": NOW},
     ["cancelled by <@U0ALICE01> at 2026-01-01 09:00 UTC."]),
    ({"kind": "revoke", "target_api_key": KEY, "state": "done", "approvals_needed": 0, "incident": True,
      "origin_channel": "C0INCIDENT", "resolved_at": NOW + timedelta(seconds=5)},
     [f"Revoke key `{KEY}` in *alpha*, commanded by <@U0ALICE01>: *done* (no approval needed)",
      "Commanded in <#C0INCIDENT> at 2026-01-01 09:00 UTC with TOTP.", "Finished 2026-01-01 09:00 UTC."]),
])
def test_status_of_each_kind_says_what_fits_it(changes: dict[str, object], expected: list[str]) -> None:
    """Each kind and state of request gets its own sensible status; never "0/0 approvals"."""
    text = status.status_text(RequestStatus(dataclasses.replace(BASE, **changes)))  # type: ignore[arg-type]
    assert all(part in text for part in expected), text
    assert "0/0" not in text


def test_status_of_a_running_kill_switch_shows_who_pulled_it_and_its_progress() -> None:
    """A kill switch under way: who pulled it and where, n of N deleted, the failed keys named, how many are left."""
    progress = KillProgress(total=10, deleted=6, failed=(("beta", KEY, "timeout"),))
    text = status.status_text(RequestStatus(KILL, progress))
    assert text.splitlines()[0] == ("`KK-7F3Q9C2M` Kill switch: every key kukey holds, in every sub-account, "
                                    "commanded by <@U0ALICE01>: *running* (no approval needed)")
    assert "Pulled in <#C0INCIDENT> at 2026-01-01 09:00 UTC with TOTP and the typed count of keys." in text
    assert "*6 of 10* keys deleted, *1 failed*, 3 still to delete." in text
    assert f"Failed: `{KEY}` (beta: timeout)" in text and "Reason: leak" in text
    assert "approvals" not in text and "Finished" not in text


def test_status_of_a_kill_switch_of_one_key_counts_one_key() -> None:
    """A kill switch of one key says "0 of 1 key deleted", not "keys"."""
    text = status.status_text(RequestStatus(KILL, KillProgress(total=1, deleted=0, failed=())))
    assert "*0 of 1* key deleted, 1 still to delete." in text


@pytest.mark.parametrize(("progress", "outcome"), [
    (KillProgress(total=4, deleted=4, failed=()), "every key deleted"),
    (KillProgress(total=4, deleted=3, failed=(("beta", KEY, "refused"),)), "not every key deleted"),
])
def test_status_of_a_finished_kill_switch_gives_its_outcome(progress: KillProgress, outcome: str) -> None:
    """A finished kill switch says when it ended and whether every key was deleted."""
    done = dataclasses.replace(KILL, state="done", resolved_at=NOW + timedelta(seconds=30))
    text = status.status_text(RequestStatus(done, progress))
    assert "*done* (no approval needed)" in text
    assert f"Finished 2026-01-01 09:00 UTC: {outcome}; every key's outcome is in its thread." in text


def test_pending_lists_a_running_kill_switch_without_approvals() -> None:
    """`/kukey pending` shows a running kill switch as commanded, beside requests counting their approvals."""
    text = status.pending_text([BASE, KILL])
    assert "(0/1 approvals)" in text and "commanded by <@U0ALICE01>: *running* (no approval needed)" in text
    assert status.pending_text([]) == status.NO_OPEN_REQUESTS


def test_the_home_lists_a_running_kill_switch_as_commanded() -> None:
    """The Home tab's request lists show a running kill switch as commanded, not as "0 of 0 approvals"."""
    from bot.slack.home_messages import request_brief

    line = request_brief(KILL)
    assert line == ("• `KK-7F3Q9C2M` Kill switch: every key kukey holds, in every sub-account by <@U0ALICE01>: "
                    "running (no approval needed)")
    assert "(0 of 1 approvals, expires 2026-01-01 10:00 UTC)" in request_brief(BASE)
