"""The workflows at the service level (submit, approve, reveal, rotate, revoke, reconcile), each run on the
KuCoin sandbox through the real client and on the in-memory exchange: the same services, two exchanges."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from bot.app import Kukey
from bot.domain import commands as cmds
from bot.domain.clock import FakeClock
from bot.domain.jobs import JobKind
from bot.domain.keys import KeySpec, KeyState, Permission
from bot.domain.requests import State
from bot.domain.secret import Secret
from bot.services.registry import Services
from bot.services.workflow import Origin
from bot.storage import audit_read, repos
from bot.storage.db import session_scope
from kukey_sandbox.slack.fake import SlackFake
from kukey_sandbox.world import APPROVER, INCIDENT, REQUESTER, RESPONDER, TRADING
from tests.services.conftest import SUB, Backend, People
from tests.services.memory_exchange import MemoryExchange

SPEC = KeySpec(SUB, frozenset({Permission.SPOT}), ("203.0.113.5",), 30)


def request_row(svc: Services, request_id: str) -> Any:
    with session_scope(svc.deps.engine) as s:
        return repos.get_request(s, request_id=request_id)


def key_state(svc: Services, api_key: str) -> str | None:
    with session_scope(svc.deps.engine) as s:
        key = repos.get_key(s, api_key=api_key)
        return key.state if key else None


def actions(svc: Services, request_id: str) -> list[str]:
    with session_scope(svc.deps.engine) as s:
        return [e.action for e in audit_read.events(s) if e.request_id == request_id]


def remote_keys(backend: Backend, sub: str = SUB) -> list[str]:
    return sorted(k.api_key for k in backend.exchange.list_keys(sub))


def wait_state(slack: SlackFake, svc: Services, request_id: str, state: State) -> None:
    slack.wait_for(lambda: request_row(svc, request_id).state == state, what=f"{request_id} {state}")


def approved(svc: Services, people: People, cmd: cmds.Create | cmds.Rotate | cmds.Revoke | cmds.Update) -> str:
    """Submit `cmd` as the requester and approve it; the request id."""
    submitted = svc.workflow.submit(REQUESTER, cmd, Origin(TRADING))
    assert submitted.ok, submitted
    request_id = str(submitted.data["request_id"])
    assert svc.workflow.approve(request_id, APPROVER, people.code(APPROVER)).reason == "approved"
    return request_id


def revealed(svc: Services, people: People, request_id: str) -> str:
    """The requester reveals; the new key's id."""
    begun = svc.reveal.begin(request_id, REQUESTER, people.code(REQUESTER))
    assert begun.ok, begun
    svc.reveal.run(request_id, people.delivery(), begun.data["passphrase"], begun.data["spec"])
    key = request_row(svc, request_id).new_api_key
    assert key is not None
    return str(key)


def new_key(svc: Services, people: People) -> str:
    return revealed(svc, people, approved(svc, people, cmds.Create(SPEC, reason="market making")))


def test_a_create_is_approved_revealed_once_and_audited(kukey: Kukey, people: People, backend: Backend,
                                                        slack: SlackFake) -> None:
    """Submit, approve with TOTP, reveal: the exchange holds the key, the requester alone saw its secret, and
    the passphrase shown is the key's own."""
    svc = kukey.services
    request_id = approved(svc, people, cmds.Create(SPEC, reason="market making"))
    assert request_row(svc, request_id).state == State.APPROVED
    api_key = revealed(svc, people, request_id)
    assert request_row(svc, request_id).state == State.REVEALED
    assert key_state(svc, api_key) == KeyState.ACTIVE
    assert remote_keys(backend) == [api_key]
    assert [k.remark for k in backend.exchange.list_keys(SUB)] == [request_id]
    assert actions(svc, request_id) == [
        "request.created", "totp.accepted", "request.approval", "request.approved", "totp.accepted",
        "reveal.started", "key.created", "key.revealed"]
    shown = next(e.content for e in slack.ephemerals(REQUESTER) if api_key in e.content and "Secret" in e.content)
    passphrase = re.search(r"Passphrase:\*? `([^`]+)`", shown)
    assert passphrase is not None
    assert backend.exchange.delete_key(SUB, api_key, Secret(passphrase.group(1)))


def test_a_rotation_replaces_the_key_at_the_exchange(kukey: Kukey, people: People, backend: Backend,
                                                     slack: SlackFake) -> None:
    """After the new key is revealed, the old one is deleted at the exchange and the rotation is done."""
    svc = kukey.services
    old = new_key(svc, people)
    request_id = approved(svc, people, cmds.Rotate(SUB, old, reason="quarterly"))
    new = revealed(svc, people, request_id)
    wait_state(slack, svc, request_id, State.DONE)
    assert remote_keys(backend) == [new]
    assert (key_state(svc, old), key_state(svc, new)) == (KeyState.DELETED, KeyState.ACTIVE)
    assert actions(svc, request_id)[-4:] == ["key.revealed", "rotate.old_key_scheduled", "key.deleted", "rotate.done"]


def test_an_approved_revoke_deletes_the_key(kukey: Kukey, people: People, backend: Backend,
                                            slack: SlackFake) -> None:
    """The last approval of a revoke moves it to `revoking`; the key is deleted and the request is done."""
    svc = kukey.services
    api_key = new_key(svc, people)
    request_id = approved(svc, people, cmds.Revoke(SUB, api_key, reason="leaving"))
    wait_state(slack, svc, request_id, State.DONE)
    assert remote_keys(backend) == []
    assert key_state(svc, api_key) == KeyState.DELETED
    assert actions(svc, request_id)[-2:] == ["key.deleted", "revoke.finished"]


def test_an_incident_revoke_deletes_every_key_alone(kukey: Kukey, people: People, backend: Backend) -> None:
    """A responder in an incident channel revokes every key of a sub-account with their own TOTP only."""
    svc = kukey.services
    keys = sorted([new_key(svc, people), new_key(svc, people)])
    assert remote_keys(backend) == keys
    out = svc.revoker.incident(RESPONDER, INCIDENT, cmds.Revoke(SUB, None, all=True, reason="leak"),
                               people.code(RESPONDER), dedupe_key=None)
    assert out.ok, out
    svc.scheduler.run_now(JobKind.REVOKE, out.data["request_id"])
    assert request_row(svc, out.data["request_id"]).state == State.DONE
    assert remote_keys(backend) == []
    assert [key_state(svc, k) for k in keys] == [KeyState.DELETED, KeyState.DELETED]


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
def test_an_incident_revoke_form_readies_one_delete_per_key_it_will_delete(kukey: Kukey, people: People,
                                                                         backend: Backend) -> None:
    """While the responder types the code, the exchange is told how many deletes are coming (KuCoin opens a
    connection for each): `all` counts the sub-account's keys kukey can delete, a single key one."""
    svc = kukey.services
    keys = [new_key(svc, people) for _ in range(3)]
    backend.exchange.create_key(KeySpec(SUB), passphrase=backend.exchange.new_passphrase(), remark="by-hand")
    svc.reconciler.run(post=False, actor="test")  # the foreign key is recorded, with no passphrase to delete it
    svc.revoker.prepare(cmds.Revoke(SUB, None, all=True, reason="leak"))
    svc.revoker.prepare(cmds.Revoke(SUB, keys[0], all=False, reason="leak"))
    assert isinstance(backend.exchange, MemoryExchange)
    assert backend.exchange.readied == [(SUB, 3), (SUB, 1)]


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
def test_the_kill_switch_form_readies_its_first_window_for_a_responder_only(kukey: Kukey, people: People,
                                                                          backend: Backend) -> None:
    """A responder in an incident channel opening the kill switch's form readies its deletes (every key kukey
    holds, the exchange opening at most a window's connections); anyone else readies nothing, and nothing
    more is audited than the form's own refusal (none here: `prepare` alone)."""
    svc = kukey.services
    for _ in range(2):
        new_key(svc, people)
    with session_scope(svc.deps.engine) as s:
        events = len(audit_read.events(s))
    svc.kill_switch.prepare(REQUESTER, TRADING)
    svc.kill_switch.prepare(RESPONDER, TRADING)
    assert isinstance(backend.exchange, MemoryExchange) and backend.exchange.readied == []
    svc.kill_switch.prepare(RESPONDER, INCIDENT)
    assert backend.exchange.readied == [(SUB, 2)]
    with session_scope(svc.deps.engine) as s:
        assert len(audit_read.events(s)) == events


def test_reconcile_marks_keys_gone_and_records_foreign_ones(kukey: Kukey, people: People, backend: Backend) -> None:
    """A key deleted outside kukey becomes `gone`; a key kukey never made is recorded as `external`."""
    svc = kukey.services
    ours = new_key(svc, people)
    assert backend.remove_out_of_band(SUB, ours)
    foreign = backend.exchange.create_key(KeySpec(SUB), passphrase=backend.exchange.new_passphrase(),
                                          remark="by-hand").api_key
    found = svc.reconciler.run(post=False, actor="test")
    assert (found.gone, found.unknown, found.due) == ([(SUB, ours)], [(SUB, foreign)], [])
    assert (key_state(svc, ours), key_state(svc, foreign)) == (KeyState.GONE, KeyState.EXTERNAL)
    again = svc.reconciler.run(post=False, actor="test")
    assert (again.gone, again.unknown) == ([], [])


def test_a_reveal_interrupted_past_its_window_lapses(kukey: Kukey, people: People, backend: Backend,
                                                     clock: FakeClock) -> None:
    """A reveal that crashed (begun, never run) is recovered after its lease; once the reveal window has
    passed meanwhile, recovery moves the request from `revealing` to `lapsed`."""
    svc = kukey.services
    request_id = approved(svc, people, cmds.Create(SPEC))
    assert svc.reveal.begin(request_id, REQUESTER, people.code(REQUESTER)).ok
    clock.advance(timedelta(minutes=20))
    assert svc.scheduler.tick() == 2  # the recovery and the lapse job; the lapse finds the request revealing
    assert request_row(svc, request_id).state == State.LAPSED
    assert actions(svc, request_id)[-2:] == ["reveal.started", "reveal.recovered"]
    assert remote_keys(backend) == []
    assert svc.reveal.check(request_id, REQUESTER).reason == "not_approved"


def test_a_busy_exchange_past_the_reveal_window_lapses_the_request(kukey: Kukey, people: People, backend: Backend,
                                                                   clock: FakeClock) -> None:
    """The exchange is busy when the reveal runs and the window has closed meanwhile: the request lapses
    (it would return to `approved` within the window), and no key exists."""
    svc = kukey.services
    request_id = approved(svc, people, cmds.Create(SPEC))
    begun = svc.reveal.begin(request_id, REQUESTER, people.code(REQUESTER))
    clock.advance(timedelta(minutes=20))
    backend.busy()
    svc.reveal.run(request_id, people.delivery(), begun.data["passphrase"], begun.data["spec"])
    assert request_row(svc, request_id).state == State.LAPSED
    assert actions(svc, request_id)[-2:] == ["reveal.started", "reveal.failed"]
    assert remote_keys(backend) == []


def test_a_busy_exchange_within_the_window_gives_the_reveal_back(kukey: Kukey, people: People,
                                                                 backend: Backend) -> None:
    """The exchange is busy within the reveal window: the request returns to `approved` and the next reveal
    creates the key."""
    svc = kukey.services
    request_id = approved(svc, people, cmds.Create(SPEC))
    begun = svc.reveal.begin(request_id, REQUESTER, people.code(REQUESTER))
    backend.busy()
    svc.reveal.run(request_id, people.delivery(), begun.data["passphrase"], begun.data["spec"])
    assert request_row(svc, request_id).state == State.APPROVED
    api_key = revealed(svc, people, request_id)
    assert remote_keys(backend) == [api_key]


def key_settings(svc: Services, api_key: str) -> tuple[str, str]:
    with session_scope(svc.deps.engine) as s:
        key = repos.get_key(s, api_key=api_key)
        assert key is not None
        return key.permissions, key.ips


def test_an_approved_update_changes_the_key_at_the_exchange(kukey: Kukey, people: People, backend: Backend,
                                                            slack: SlackFake) -> None:
    """The last approval of an update moves it to `updating`; the exchange gets the new permissions with the
    key's own passphrase, kukey records them, and the request is done; running the job again changes nothing."""
    svc = kukey.services
    api_key = new_key(svc, people)
    update = cmds.Update(SUB, api_key, frozenset({Permission.GENERAL, Permission.SPOT, Permission.MARGIN}),
                         ("203.0.113.5", "198.51.100.7"), reason="margin desk")
    request_id = approved(svc, people, update)
    wait_state(slack, svc, request_id, State.DONE)
    assert key_settings(svc, api_key) == ("General,Spot,Margin", "203.0.113.5,198.51.100.7")
    assert {k.api_key: k.permissions for k in backend.exchange.list_keys(SUB)} == {
        api_key: {Permission.GENERAL, Permission.SPOT, Permission.MARGIN}}
    svc.deps.jobs.run_now(JobKind.UPDATE_KEY, request_id)  # nothing left to do once the request is done
    assert actions(svc, request_id) == ["request.created", "totp.accepted", "request.approval", "request.approved",
                                        "key.updated"]


def test_an_update_of_a_key_revoked_meanwhile_fails(kukey: Kukey, people: People, backend: Backend,
                                                     slack: SlackFake) -> None:
    """A key revoked between the update's submission and its approval is not touched: the update fails,
    saying why, and the key's record stays as the revoke left it."""
    svc = kukey.services
    api_key = new_key(svc, people)
    submitted = svc.workflow.submit(REQUESTER, cmds.Update(SUB, api_key, None, ("198.51.100.7",)), Origin(TRADING))
    request_id = str(submitted.data["request_id"])
    revoke = approved(svc, people, cmds.Revoke(SUB, api_key, reason="leaving"))
    wait_state(slack, svc, revoke, State.DONE)
    assert svc.workflow.approve(request_id, APPROVER, people.code(APPROVER)).reason == "approved"
    wait_state(slack, svc, request_id, State.FAILED)
    assert request_row(svc, request_id).resolution_note.startswith("kukey no longer holds the key")
    assert (key_state(svc, api_key), key_settings(svc, api_key)) == (KeyState.DELETED, ("General,Spot", "203.0.113.5"))
    assert actions(svc, request_id)[-1] == "key.update_failed"
