"""Reveal: create the key at the exchange only when the requester is present, show it once, leave no orphan.

    begin(request, user, code)   requester only; their TOTP (policy); CAS approved -> revealing, and the
                                 new key's passphrase stored encrypted on the request (for recovery); this
                                 process holds the request's `recover_reveal` job under a lease
    run(request, delivery)       create at the exchange (remark = request id), record the key, show the
                                 secret ephemerally, CAS revealing -> revealed. Any failure after the
                                 exchange created the key deletes it and returns the request to
                                 `approved` (`lapsed` once the reveal window has passed).
    recover(request)             after a crash in `revealing`: find the key by remark, delete it, return
                                 the request to `approved` and tell the requester.

Takeover: while `run` works, the process's heartbeat renews its lease on the `recover_reveal` job
(bot.services.leases), so however slow the exchange is, no other replica recovers a live reveal. If the
process dies, the lease runs out and any replica's scheduler claims the job and runs `recover`, exactly
as after a restart. The secret is shown only by the process holding the lease: `run` records the new
key in the same transaction that checks (and renews) its claim; a process that finds its claim gone
(it was stalled past its lease and the reveal was undone meanwhile) deletes the key it made and shows
nothing. The secret is never stored, so nobody else can ever show it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import Session

from bot.domain.actions import AuditAction
from bot.domain.exchange import CreatedKey
from bot.domain.jobs import Claim, JobKind
from bot.domain.keys import KeySpec, KeyState, format_permissions, parse_permissions
from bot.domain.requests import Kind, State
from bot.domain.secret import Secret
from bot.domain.timeutil import aware, fmt
from bot.errors import ExchangeError, ExchangeOutcomeUnknown, ExchangeRejected, Refused
from bot.services.deps import Deps, view
from bot.services.enrollment import Lockout
from bot.services.ports import Delivery, Outcome, RequestView
from bot.services.rules import Rules
from bot.storage import repos
from bot.storage.db import session_scope
from bot.storage.tables import KeyRecord

log = logging.getLogger("kukey.reveal")


def _aad(request_id: str) -> str:
    return f"req:{request_id}"


class Reveal:
    def __init__(self, deps: Deps, rules: Rules) -> None:
        self.d = deps
        self.rules = rules

    def check(self, request_id: str, user: str) -> Outcome:
        """May `user` reveal now? (The click: only the requester, only once, only in time.)"""
        with session_scope(self.d.engine) as s:
            return self._check(s, request_id, user)

    def _check(self, s: Session, request_id: str, user: str) -> Outcome:
        row = repos.get_request(s, request_id=request_id)
        if row is None:
            return Outcome(False, f"Request {request_id} does not exist.", "unknown_request")
        if row.requester != user:
            self.d.audit.record(s, AuditAction.REVEAL_REFUSED, actor=user, request_id=request_id, outcome="refused",
                                sub_account=row.sub_account, detail={"why": "not_requester"})
            return Outcome(False, "Only the requester can reveal this key.", "not_requester")
        if row.state in (State.REVEALED, State.DONE) or row.new_api_key:
            return Outcome(False, "This key was already revealed; it is shown only once.", "already_revealed")
        if row.state == State.REVEALING:
            return Outcome(False, "The key is being created right now.", "in_progress")
        if row.state != State.APPROVED:
            return Outcome(False, f"Request {request_id} is {row.state}; there is nothing to reveal.",
                           "not_approved")
        if row.reveal_deadline and aware(row.reveal_deadline) <= self.d.clock.now():
            return Outcome(False, "The reveal window has passed; the approval lapsed.", "lapsed")
        rule = self.rules.rule(row.sub_account)
        spec = KeySpec(row.sub_account, parse_permissions(row.permissions),
                       tuple(i for i in row.ips.split(",") if i), row.expire_days)
        return Outcome(True, data={"needs_totp": rule.require_requester_totp, "spec": spec})

    def begin(self, request_id: str, user: str, code: str | None) -> Outcome:
        """Second factor (if the policy asks) then claim the reveal. Raises Refused for a modal error.

        ONE transaction holds the checks, the code's judgement and the claim (a refused code is committed
        with its audit event, then raised)."""
        with session_scope(self.d.engine) as s:
            outcome = self._check(s, request_id, user)
            verdict: int | Refused | None = None
            claim: Claim | None = None
            if outcome.ok and outcome.data["needs_totp"]:
                if code is None:
                    return Outcome(False, "Your TOTP code is needed to reveal.", "code_required")
                verdict = self.d.enrollment.judge(s, user, code, purpose="reveal", request_id=request_id,
                                                  lockout=Lockout(*self.rules.totp_lockout()))
            if outcome.ok and not isinstance(verdict, Refused):
                outcome, claim = self._claim(s, request_id, user, outcome.data["spec"])
        if isinstance(verdict, Refused):
            raise verdict
        if claim is not None:
            self.d.leases.add(claim)  # held from the commit on: the heartbeat renews it
        return outcome

    def _claim(self, s: Session, request_id: str, user: str, spec: KeySpec) -> tuple[Outcome, Claim | None]:
        """approved -> revealing, the new key's passphrase stored encrypted, the recovery job held by this
        process. The outcome carries the passphrase and the key's spec, for `run`."""
        passphrase = self.d.exchange.new_passphrase()
        ok = repos.transition(s, request_id=request_id, src=State.APPROVED, dst=State.REVEALING,
                              pending_passphrase_enc=self.d.box.encrypt(passphrase, aad=_aad(request_id)))
        if not ok:
            return Outcome(False, "This key is already being revealed or was revealed.", "already_revealed"), None
        now = self.d.clock.now()
        claim = repos.hold(s, kind=JobKind.RECOVER_REVEAL, ref=request_id, now=now,
                           lease_until=now + self.d.leases.lease)
        self.d.audit.record(s, AuditAction.REVEAL_STARTED, actor=user, request_id=request_id,
                            sub_account=spec.sub_account)
        return Outcome(True, data={"passphrase": passphrase, "spec": spec}), claim

    def run(self, request_id: str, delivery: Delivery, passphrase: Secret, spec: KeySpec) -> None:
        """Create, record, deliver; undo on any failure. Runs after the ack, in the process that began it,
        with what `begin` returned (the passphrase and the key's spec)."""
        claim = self.d.leases.find(JobKind.RECOVER_REVEAL, request_id)
        if claim is None:
            log.warning("reveal not begun in this process", extra={"request_id": request_id})
            return
        try:
            self._run(request_id, delivery, passphrase, spec, claim)
        finally:
            self.d.leases.release(claim)

    def _run(self, request_id: str, delivery: Delivery, passphrase: Secret, spec: KeySpec, claim: Claim) -> None:
        if not self._still_mine(request_id, claim):
            return
        created = self._create(request_id, spec, passphrase)
        if created is None:
            return
        if created.secret is None:
            self._delete_created(request_id, created.api_key, spec.sub_account, passphrase, why="secret_lost")
            self._give_back(request_id, AuditAction.REVEAL_FAILED,
                            f"{self.d.exchange.name}'s answer was lost, so its secret cannot be shown; "
                            "that key was deleted",
                            final=False)
            return
        snapshot = self._record_created(request_id, spec, created, passphrase, claim)
        if snapshot is None:
            self._discard(request_id, created.api_key, spec.sub_account, passphrase)
            return
        try:
            self.d.notifier.deliver_secret(delivery, snapshot, {"api_key": created.api_key,
                                                                "permissions": sorted(created.permissions)},
                                           created.secret, passphrase)
        except Exception as exc:  # any delivery failure: the key must not outlive its undelivered secret
            log.warning("secret delivery failed", extra={"request_id": request_id, "error": type(exc).__name__})
            self._delete_created(request_id, created.api_key, spec.sub_account, passphrase, why="delivery_failed")
            self._give_back(request_id, AuditAction.REVEAL_FAILED, "the secret could not be shown to you",
                            final=False)
            return
        if self._finish(request_id, created.api_key):
            # after the key is on record as delivered: the window in which a crash would make the recovery
            # delete a key whose secret was shown stays as short as the secret's own post
            self.d.notifier.spend_offer(delivery, request_id)

    def _still_mine(self, request_id: str, claim: Claim) -> bool:
        """Is the reveal still this process's to run? Only asked of the database (which also renews the
        claim) when the claim is not surely held: a run that starts within half a lease of its `begin` (as
        good as always) goes straight to the exchange, one transaction less on the reveal's path. Either
        way `_record_created` checks the claim again before the key is recorded or shown."""
        if self.d.leases.surely_held(claim):
            return True
        with session_scope(self.d.engine) as s:
            row = repos.get_request(s, request_id=request_id)
            return row is not None and row.state == State.REVEALING and self.d.leases.still_held(s, claim)

    def _create(self, request_id: str, spec: KeySpec, passphrase: Secret) -> CreatedKey | None:
        """The exchange's create; None when it failed (and the failure has been dealt with)."""
        try:
            return self.d.exchange.create_key(spec, passphrase=passphrase, remark=request_id)
        except ExchangeRejected as exc:
            self._give_back(request_id, AuditAction.REVEAL_FAILED, str(exc), final=True)
        except ExchangeOutcomeUnknown:
            # The exchange may hold a key whose secret nobody can receive: stay `revealing` and let the
            # recovery job look for it by its remark (and delete it) before the requester may try again.
            with session_scope(self.d.engine) as s:
                repos.schedule(s, kind=JobKind.RECOVER_REVEAL, ref=request_id,
                               run_at=self.d.clock.now() + timedelta(seconds=10))
                self.d.audit.record(s, AuditAction.REVEAL_OUTCOME_UNKNOWN, actor="kukey", request_id=request_id,
                                    sub_account=spec.sub_account, outcome="failed")
                row = repos.get_request(s, request_id=request_id)
                if row is not None:
                    self.d.outbox.event(s, "reveal_checking", view(s, row))
        except ExchangeError as exc:
            self._give_back(request_id, AuditAction.REVEAL_FAILED, str(exc), final=False)
        return None

    def _record_created(self, request_id: str, spec: KeySpec, created: CreatedKey, passphrase: Secret,
                        claim: Claim) -> RequestView | None:
        """Record the new key as `delivering`, with its passphrase encrypted, before its secret is shown;
        None, recording nothing, when this process no longer holds the reveal (it was taken over)."""
        now = self.d.clock.now()
        granted = format_permissions(created.permissions)
        with session_scope(self.d.engine) as s:
            if not self.d.leases.still_held(s, claim):
                return None
            row = repos.get_request(s, request_id=request_id)
            assert row is not None
            approved_by = tuple(a.approver for a in repos.approvals_of(s, request_id=request_id))
            approvers = ",".join(approved_by)
            s.add(KeyRecord(api_key=created.api_key, sub_account=spec.sub_account, remark=request_id,
                            permissions=granted, ips=",".join(spec.ips),
                            expire_days=spec.expire_days, created_at=now,
                            expires_at=(now + timedelta(days=spec.expire_days)) if spec.expire_days else None,
                            passphrase_enc=self.d.box.encrypt(passphrase, aad=f"key:{created.api_key}"),
                            request_id=request_id, requested_by=row.requester, approved_by=approvers,
                            state=KeyState.DELIVERING.value))
            row.new_api_key, row.granted_permissions = created.api_key, granted
            s.add(row)
            self.d.audit.record(s, AuditAction.KEY_CREATED, actor="kukey", request_id=request_id,
                                sub_account=spec.sub_account, api_key=created.api_key,
                                detail={"permissions": granted,
                                        "requested": format_permissions(spec.permissions),
                                        "ips": ",".join(spec.ips), "expire_days": spec.expire_days,
                                        "remark": request_id})
            return view(s, row, approvers=approved_by)

    def _finish(self, request_id: str, api_key: str) -> bool:
        """The key delivered: active, the request revealed; False when the reveal was taken over meanwhile."""
        now = self.d.clock.now()
        with session_scope(self.d.engine) as s:
            if not repos.transition(s, request_id=request_id, src=State.REVEALING, dst=State.REVEALED,
                                    pending_passphrase_enc=None, resolved_at=now):
                return False  # taken over while the secret was on its way: the recovery deleted the key
            repos.key_transition(s, api_key=api_key, src=(KeyState.DELIVERING,), dst=KeyState.ACTIVE)
            repos.cancel_jobs(s, kinds=(JobKind.RECOVER_REVEAL, JobKind.LAPSE_APPROVAL), ref=request_id)
            row = repos.get_request(s, request_id=request_id)
            assert row is not None
            self.d.audit.record(s, AuditAction.KEY_REVEALED, actor=row.requester, request_id=request_id,
                                sub_account=row.sub_account, api_key=api_key)
            if row.kind == Kind.ROTATE and row.target_api_key:
                when = now + timedelta(minutes=row.grace_minutes or 0)
                repos.key_transition(s, api_key=row.target_api_key, src=(KeyState.ACTIVE,),
                                     dst=KeyState.DELETE_PENDING, delete_after=when)
                repos.schedule(s, kind=JobKind.DELETE_OLD_KEY, ref=row.target_api_key, run_at=when)
                self.d.audit.record(s, AuditAction.ROTATE_OLD_KEY_SCHEDULED, actor="kukey", request_id=request_id,
                                    sub_account=row.sub_account, api_key=row.target_api_key,
                                    detail={"delete_at": when.isoformat(), "new_api_key": api_key})
            snapshot = view(s, row)
            self.d.outbox.event(s, "revealed", snapshot)
            if snapshot.kind == Kind.ROTATE and snapshot.target_api_key and snapshot.grace_minutes:
                # (without a grace period the old key goes at once and "Rotation done" names both keys)
                when = now + timedelta(minutes=snapshot.grace_minutes)
                self.d.outbox.event(s, "old_key_scheduled", snapshot, when=fmt(when))
        if snapshot.kind == Kind.ROTATE and snapshot.target_api_key and not snapshot.grace_minutes:
            self.d.later(self.d.jobs.run_now, JobKind.DELETE_OLD_KEY, snapshot.target_api_key)
        return True

    def _delete_created(self, request_id: str, api_key: str, sub: str, passphrase: Secret, *, why: str) -> None:
        """Delete a key whose secret nobody received. Retries come from the recovery job if this fails."""
        self.d.exchange.delete_key(sub, api_key, passphrase)
        with session_scope(self.d.engine) as s:
            repos.key_transition(s, api_key=api_key, src=(KeyState.DELIVERING, KeyState.ACTIVE),
                                 dst=KeyState.DELETED, deleted_at=self.d.clock.now())
            row = repos.get_request(s, request_id=request_id)
            if row is not None:
                row.new_api_key, row.granted_permissions = None, None
                s.add(row)
            self.d.audit.record(s, AuditAction.KEY_DELETED, actor="kukey", request_id=request_id, sub_account=sub,
                                api_key=api_key, detail={"why": why})

    def _give_back(self, request_id: str, action: AuditAction, why: str, *, final: bool) -> None:
        dst = State.FAILED if final else State.APPROVED
        with session_scope(self.d.engine) as s:
            current = repos.get_request(s, request_id=request_id)
            deadline = current.reveal_deadline if current else None
            if not final and deadline is not None and aware(deadline) <= self.d.clock.now():
                dst = State.LAPSED  # the window closed while the exchange was busy: the approval lapses
            if not repos.transition(s, request_id=request_id, src=State.REVEALING, dst=dst,
                                    pending_passphrase_enc=None):
                return  # another process already ended this reveal (took it over and undid it)
            repos.cancel_job(s, kind=JobKind.RECOVER_REVEAL, ref=request_id)
            row = repos.get_request(s, request_id=request_id)
            assert row is not None
            self.d.audit.record(s, action, actor="kukey", request_id=request_id, sub_account=row.sub_account,
                                outcome="failed", detail={"why": why, "final": final})
            self.d.outbox.event(s, "reveal_failed", view(s, row), why=why, final=final)

    def _discard(self, request_id: str, api_key: str, sub: str, passphrase: Secret) -> None:
        """This process was taken over after the exchange made the key: nobody else knows of it, so delete
        it here; the request itself belongs to whoever took over."""
        try:
            self.d.exchange.delete_key(sub, api_key, passphrase)
        except ExchangeError as exc:  # reconciliation will report the key as unknown to kukey
            log.error("could not delete the key of a reveal taken over", extra={"request_id": request_id,
                                                                                  "error": type(exc).__name__})
            raise
        with session_scope(self.d.engine) as s:
            self.d.audit.record(s, AuditAction.KEY_DELETED, actor="kukey", request_id=request_id, sub_account=sub,
                                api_key=api_key, detail={"why": "taken_over"})

    def recover(self, request_id: str) -> None:
        """A reveal was interrupted (crash): undo whatever the exchange holds for it, and let the user retry."""
        with session_scope(self.d.engine) as s:
            row = repos.get_request(s, request_id=request_id)
            if row is None or row.state != State.REVEALING:
                return
            sub, blob = row.sub_account, row.pending_passphrase_enc
            key = row.new_api_key
        passphrase = self.d.box.decrypt(blob, aad=_aad(request_id)) if blob else None
        found = [k for k in self.d.exchange.list_keys(sub) if k.remark == request_id]
        for k in found:
            if passphrase is None:
                raise Refused("cannot delete an interrupted key without its passphrase", reason="no_passphrase")
            self._delete_created(request_id, k.api_key, sub, passphrase, why="interrupted")
        if key and not found:
            with session_scope(self.d.engine) as s:
                repos.key_transition(s, api_key=key, src=(KeyState.DELIVERING,), dst=KeyState.DELETED,
                                     deleted_at=self.d.clock.now())
        name = self.d.exchange.name
        why = (f"the reveal was interrupted; the key {name} had created for it was deleted" if found
               else f"{name} did not confirm the key, and holds none for this request")
        self._give_back(request_id, AuditAction.REVEAL_RECOVERED, why, final=False)
