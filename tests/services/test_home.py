"""The Home tab's read model and whose Home a change refreshes, at the service level (on both exchanges)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import Kukey
from bot.domain import commands as cmds
from bot.domain.clock import FakeClock
from bot.services.deps import view
from bot.services.ports import RequestView
from bot.services.registry import Services
from bot.services.workflow import Origin
from bot.storage import repos
from bot.storage.db import session_scope
from kukey_sandbox.world import ADMIN, APPROVER, APPROVER2, OUTSIDER, REQUESTER, RESPONDER, TRADING
from tests.services.conftest import SUB, People
from tests.services.test_workflows import SPEC, approved, new_key


def snapshot(svc: Services, request_id: str) -> RequestView:
    with session_scope(svc.deps.engine) as s:
        row = repos.get_request(s, request_id=request_id)
        assert row is not None
        return view(s, row)


def test_each_person_reads_their_own_home(kukey: Kukey, people: People, clock: FakeClock) -> None:
    """The requester reads their key and open request, an approver the request waiting for them, an outsider
    neither; an admin also reads every pending request and, once it is old enough, the key due for rotation."""
    svc = kukey.services
    key = new_key(svc, people)
    pending = svc.workflow.submit(REQUESTER, cmds.Create(SPEC), Origin(TRADING)).data["request_id"]
    mine = svc.home.read(REQUESTER)
    assert [k.api_key for k in mine.keys] == [key] and [r.id for r in mine.open_requests] == [pending]
    assert mine.to_approve == () and mine.totp.enrolled and mine.admin is None
    assert [r.id for r in svc.home.read(APPROVER).to_approve] == [pending]
    outsider = svc.home.read(OUTSIDER)
    assert (outsider.keys, outsider.to_approve, outsider.totp.enrolled) == ((), (), False)
    admin = svc.home.read(ADMIN).admin
    assert admin is not None and [r.id for r in admin.pending] == [pending] and admin.due == ()
    clock.advance(timedelta(days=90))
    admin = svc.home.read(ADMIN).admin
    assert admin is not None and [(k.api_key, k.age_days, k.due) for k in admin.due] == [(key, 90, True)]


def test_a_change_refreshes_the_homes_it_concerns(kukey: Kukey, people: People) -> None:
    """A new request concerns its requester, its approvers and the admins; its reveal, the requester and the
    admins; a revoke also the owner of the key it deletes."""
    svc = kukey.services
    key = new_key(svc, people)
    created = svc.workflow.submit(REQUESTER, cmds.Create(SPEC), Origin(TRADING)).data["request_id"]
    req = snapshot(svc, created)
    assert svc.home.concerned("submitted", req, {}) == [REQUESTER, APPROVER, APPROVER2, ADMIN]
    assert svc.home.concerned("revealed", req, {}) == [REQUESTER, ADMIN]
    revoke = approved(svc, people, cmds.Revoke(SUB, key))
    theirs = snapshot(svc, revoke)
    assert svc.home.concerned("revoked", theirs, {"deleted": [key]}) == [REQUESTER, ADMIN]
    by_responder = RequestView(**{**vars(theirs), "requester": RESPONDER})
    assert svc.home.concerned("revoked", by_responder, {"deleted": [key]}) == [RESPONDER, REQUESTER, ADMIN]


def test_the_outbox_tells_its_watchers_after_the_commit_and_never_after_a_rollback(kukey: Kukey,
                                                                                    people: People) -> None:
    """A watcher of the outbox (the Home's hook) hears an event and an announcement once their transaction
    commits, and nothing of a transaction that rolls back."""
    svc = kukey.services
    heard: list[tuple[str, str | None]] = []
    svc.deps.outbox.watch(lambda name, req, fields: heard.append((name, req.id if req else None)))
    created = svc.workflow.submit(REQUESTER, cmds.Create(SPEC), Origin(TRADING)).data["request_id"]
    assert ("submitted", created) in heard
    heard.clear()
    req = snapshot(svc, created)
    try:
        with session_scope(svc.deps.engine) as s:
            svc.deps.outbox.event(s, "cancelled", req, user=REQUESTER)
            svc.deps.outbox.announce(s, [TRADING], "rolled back")
            assert heard == []  # not before the commit
            raise RuntimeError("the change fails")
    except RuntimeError:
        pass
    assert heard == []
    with session_scope(svc.deps.engine) as s:
        svc.deps.outbox.announce(s, [TRADING], "an announcement")
    assert heard == [("announce", None)]


def test_a_released_savepoint_tells_no_watcher_before_the_transaction_commits(kukey: Kukey, people: People) -> None:
    """SQLAlchemy signals "after_commit" when a SAVEPOINT is released: the outbox waits for the transaction
    itself, so a change that then rolls back shows nothing and hands nothing to the dispatcher."""
    svc = kukey.services
    created = svc.workflow.submit(REQUESTER, cmds.Create(SPEC), Origin(TRADING)).data["request_id"]
    heard: list[str] = []
    svc.deps.outbox.watch(lambda name, req, fields: heard.append(name))
    req = snapshot(svc, created)
    with pytest.raises(RuntimeError), session_scope(svc.deps.engine) as s:
        svc.deps.outbox.event(s, "cancelled", req, user=REQUESTER)
        with s.begin_nested():  # e.g. an insert that may conflict
            pass
        assert heard == []  # the savepoint's release is not the commit
        raise RuntimeError("the change fails")
    assert heard == []
    with session_scope(svc.deps.engine) as s:
        svc.deps.outbox.event(s, "cancelled", req, user=REQUESTER)
        with s.begin_nested():
            pass
    assert heard == ["cancelled"]  # once, at the commit
