"""A reveal held by one replica and watched by another (two kukeys on one database and one FakeClock): the
heartbeat keeps a live reveal its owner's however slow KuCoin is; a reveal whose owner stopped renewing is
undone by the other replica exactly as after a crash; an owner that was taken over while KuCoin created
its key deletes that key and shows nothing; the secret is shown once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event

from bot.app import Kukey, build
from bot.domain import commands as cmds
from bot.domain.actions import AuditAction
from bot.domain.clock import FakeClock
from bot.domain.jobs import JobKind
from bot.domain.keys import KeyState
from bot.domain.requests import State
from bot.kucoin.client import KucoinClient
from bot.kucoin.exchange import KucoinExchange
from bot.storage import audit_read, repos
from bot.storage.db import session_scope
from kukey_sandbox.kucoin import KucoinSandbox
from kukey_sandbox.slack.fake import SlackFake
from kukey_sandbox.world import INCIDENT, REQUESTER, RESPONDER
from tests.services.conftest import SUB, Backend, People
from tests.services.test_workflows import SPEC, approved, key_state, new_key, remote_keys, request_row

CREATE = "/api/v1/sub/api-key"


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[KucoinSandbox]:
    with KucoinSandbox(clock=clock) as sandbox:
        yield sandbox


@pytest.fixture
def backend(sandbox: KucoinSandbox, clock: FakeClock) -> Iterator[Backend]:
    """The KuCoin sandbox through the real client (its latency control slows the create down)."""
    creds = sandbox.master_credentials
    with KucoinClient(base_url=sandbox.url, api_key=creds.api_key, api_secret=creds.api_secret,
                      api_passphrase=creds.api_passphrase, clock=clock) as client:
        yield Backend("kucoin", KucoinExchange(client), sandbox.remove_key_out_of_band, lambda: None)


@pytest.fixture
def other(kukey: Kukey, clock: FakeClock, backend: Backend) -> Iterator[Kukey]:
    """A second replica on the same database, clock and exchange."""
    replica = build(kukey.settings, clock=clock, exchange=backend.exchange)
    yield replica
    replica.stop()


def _secrets_shown(slack: SlackFake) -> int:
    return sum("Secret" in e.content for e in slack.ephemerals(REQUESTER))


def _creates(sandbox: KucoinSandbox) -> list[object]:
    return [r for r in list(sandbox.requests) if r.method == "POST" and r.path == CREATE]


def _actions(kukey: Kukey, request_id: str) -> list[str]:
    with session_scope(kukey.services.deps.engine) as s:
        return [e.action for e in audit_read.events(s) if e.request_id == request_id]


def test_a_live_reveal_is_never_taken_over(kukey: Kukey, other: Kukey, people: People, clock: FakeClock,
                                          slack: SlackFake, backend: Backend) -> None:
    """While its owner's heartbeat renews the lease, the other replica never recovers the reveal, however
    long it takes; the owner then shows the one key."""
    svc, lease = kukey.services, kukey.services.deps.leases.lease
    request_id = approved(svc, people, cmds.Create(SPEC, reason="slow exchange"))
    begun = svc.reveal.begin(request_id, REQUESTER, people.code(REQUESTER))
    for _ in range(6):  # three leases' worth of KuCoin's time, a heartbeat every half lease
        clock.advance(lease / 2)
        assert svc.deps.leases.renew() == []
        assert other.services.scheduler.tick() == 0
    svc.reveal.run(request_id, people.delivery(), begun.data["passphrase"], begun.data["spec"])
    assert request_row(svc, request_id).state == State.REVEALED
    assert len(remote_keys(backend)) == 1 and _secrets_shown(slack) == 1


def test_a_dead_owners_reveal_is_undone_by_another_replica(kukey: Kukey, other: Kukey, people: People,
                                                          clock: FakeClock, slack: SlackFake,
                                                          backend: Backend) -> None:
    """A reveal whose owner died (no more renewals) is recovered by the other replica once the lease has
    passed: the request is approved again, the requester told, and a new reveal there shows one key."""
    svc = kukey.services
    request_id = approved(svc, people, cmds.Create(SPEC, reason="owner dies"))
    assert svc.reveal.begin(request_id, REQUESTER, people.code(REQUESTER)).ok
    clock.advance(svc.deps.leases.lease - timedelta(seconds=1))
    assert other.services.scheduler.tick() == 0
    clock.advance(timedelta(seconds=1))
    assert other.services.scheduler.tick() == 1
    assert request_row(svc, request_id).state == State.APPROVED
    assert AuditAction.REVEAL_RECOVERED in _actions(kukey, request_id)
    again = other.services.reveal.begin(request_id, REQUESTER, people.code(REQUESTER))
    other.services.reveal.run(request_id, people.delivery(), again.data["passphrase"], again.data["spec"])
    assert len(remote_keys(backend)) == 1 and _secrets_shown(slack) == 1


def test_an_owner_taken_over_mid_create_deletes_its_key_and_shows_nothing(
        kukey: Kukey, other: Kukey, people: People, clock: FakeClock, slack: SlackFake, backend: Backend,
        sandbox: KucoinSandbox) -> None:
    """An owner stalled past its lease while KuCoin created the key (so the other replica undid the reveal
    meanwhile) finds its claim gone before recording the key: it deletes the key and shows no secret."""
    svc = kukey.services
    request_id = approved(svc, people, cmds.Create(SPEC, reason="stalled owner"))
    begun = svc.reveal.begin(request_id, REQUESTER, people.code(REQUESTER))
    delivery = people.delivery()
    sandbox.set_latency(1.0, path=CREATE)
    owner = threading.Thread(target=svc.reveal.run,
                             args=(request_id, delivery, begun.data["passphrase"], begun.data["spec"]))
    owner.start()
    slack.wait_for(lambda: _creates(sandbox),
                   what="the owner's create reached KuCoin")
    clock.advance(svc.deps.leases.lease)  # no heartbeat: the owner is stalled
    assert other.services.scheduler.tick() == 1
    owner.join(30)
    assert not owner.is_alive()
    sandbox.clear_faults()
    assert remote_keys(backend) == [] and _secrets_shown(slack) == 0
    assert request_row(svc, request_id).state == State.APPROVED
    actions = _actions(kukey, request_id)
    assert AuditAction.REVEAL_RECOVERED in actions and AuditAction.KEY_REVEALED not in actions


def test_an_owner_stalled_before_its_run_creates_nothing(kukey: Kukey, other: Kukey, people: People,
                                                         clock: FakeClock, slack: SlackFake, backend: Backend,
                                                         sandbox: KucoinSandbox) -> None:
    """A reveal whose run starts only after its lease passed (the owner stalled, the other replica undid the
    reveal meanwhile) asks the database before the exchange, finds its claim gone and creates no key."""
    svc = kukey.services
    request_id = approved(svc, people, cmds.Create(SPEC, reason="stalled before the run"))
    begun = svc.reveal.begin(request_id, REQUESTER, people.code(REQUESTER))
    clock.advance(svc.deps.leases.lease)  # no heartbeat: the owner is stalled
    assert other.services.scheduler.tick() == 1
    svc.reveal.run(request_id, people.delivery(), begun.data["passphrase"], begun.data["spec"])
    assert not _creates(sandbox)
    assert remote_keys(backend) == [] and _secrets_shown(slack) == 0
    assert request_row(svc, request_id).state == State.APPROVED


def test_a_run_right_after_its_begin_goes_straight_to_the_exchange(kukey: Kukey, people: People,
                                                                  sandbox: KucoinSandbox, slack: SlackFake,
                                                                  backend: Backend) -> None:
    """A reveal run within half a lease of its begin sends the create before it touches the database (its
    claim is surely still its own), and still records and shows the one key."""
    svc = kukey.services
    request_id = approved(svc, people, cmds.Create(SPEC, reason="straight to the exchange"))
    begun = svc.reveal.begin(request_id, REQUESTER, people.code(REQUESTER))
    me, before_create = threading.get_ident(), []

    def seen(*_: object) -> None:
        if threading.get_ident() == me and not _creates(sandbox):
            before_create.append(1)

    engine = svc.deps.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        svc.reveal.run(request_id, people.delivery(), begun.data["passphrase"], begun.data["spec"])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert before_create == []
    assert request_row(svc, request_id).state == State.REVEALED
    assert len(remote_keys(backend)) == 1 and _secrets_shown(slack) == 1


def test_a_revoke_run_again_deletes_only_the_keys_still_there(kukey: Kukey, other: Kukey, people: People,
                                                             clock: FakeClock, backend: Backend,
                                                             sandbox: KucoinSandbox) -> None:
    """A revoke job taken over from a replica that died mid-way (two of its three keys already deleted at
    KuCoin) asks KuCoin once which keys are left and deletes only that one: no second delete, and no
    per-key check, for a key already gone; every key ends deleted and the revoke finishes."""
    svc = kukey.services
    keys = sorted(new_key(svc, people) for _ in range(3))
    out = svc.revoker.incident(RESPONDER, INCIDENT, cmds.Revoke(SUB, None, all=True, reason="leak"),
                               people.code(RESPONDER), dedupe_key=None)
    request_id, now = out.data["request_id"], clock.now()
    with session_scope(svc.deps.engine) as s:  # the first replica claims the job, deletes two keys, dies
        assert repos.claim_one(s, kind=JobKind.REVOKE, ref=request_id, now=now,
                               lease_until=now + svc.deps.leases.lease)
    assert all(backend.remove_out_of_band(SUB, k) for k in keys[:2])
    before = len(list(sandbox.requests))
    clock.advance(svc.deps.leases.lease)
    assert other.services.scheduler.tick() == 1
    calls = [(r.method, r.path) for r in list(sandbox.requests)[before:]]
    assert calls.count(("DELETE", CREATE)) == 1
    assert calls.count(("GET", CREATE)) == 2  # which keys are left, then the unmanaged ones for the report
    assert request_row(svc, request_id).state == State.DONE and remote_keys(backend) == []
    assert [key_state(svc, k) for k in keys] == [KeyState.DELETED] * 3
