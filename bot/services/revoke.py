"""Revoking keys: break-glass from an incident channel (responder + own TOTP, no second person), or as
an approved request anywhere else. Every revoke is announced in the incident and approvals channels.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.domain import commands as cmds
from bot.domain.actions import AuditAction
from bot.domain.jobs import JobKind
from bot.domain.keys import DELETABLE, KeyState
from bot.domain.requests import Kind, State
from bot.errors import ExchangeError, Refused
from bot.services.deps import Deps, view
from bot.services.enrollment import Lockout
from bot.services.keys import KeyDeleter
from bot.services.ports import Outcome
from bot.services.rules import Rules
from bot.storage import repos
from bot.storage.db import session_scope
from bot.storage.tables import Request


class Revoker:
    def __init__(self, deps: Deps, rules: Rules, deleter: KeyDeleter) -> None:
        self.d = deps
        self.rules = rules
        self.deleter = deleter

    def is_incident(self, user: str, channel: str) -> bool:
        return self.rules.may_revoke_alone(user, channel).allowed

    def prepare(self, cmd: cmds.Revoke) -> None:
        """While the responder types the code of an incident revoke's form: the exchange learns what its rate
        limits allow now, if it does not know (KuCoin: one key listing, when no view of the Management pool
        is current), so that the deletes all leave together once the code is in. Otherwise a revoke after an
        idle window first sends one delete alone to learn the pool, a round trip (100-200 ms at KuCoin) before
        the others. It also opens a connection for each key the revoke will delete (KuCoin: TCP and TLS
        handshakes, otherwise paid by the deletes). Reads only; the revoke itself is recorded when the code
        comes."""
        deletes = 1
        if cmd.all:
            with session_scope(self.d.engine) as s:
                deletes = len(_deletable(s, cmd.sub_account))
        self.d.exchange.ready_deletes(cmd.sub_account, deletes)

    def incident(self, user: str, channel: str, cmd: cmds.Revoke, code: str, *, dedupe_key: str | None) -> Outcome:
        """Responder's own TOTP, then the keys are marked and deleted after the ack. Raises Refused inline."""
        decision = self.rules.may_revoke_alone(user, channel)
        if not decision.allowed:
            raise Refused(decision.message, reason=decision.reason)
        self.rules.rule(cmd.sub_account)  # a sub-account no rule covers is refused (Refused)
        step = self.d.enrollment.check(user, code, purpose="incident_revoke",
                                       lockout=Lockout(*self.rules.totp_lockout()))
        now = self.d.clock.now()
        try:
            return self._record_incident(user, channel, cmd, step, now, dedupe_key)
        except IntegrityError:  # the same submission delivered again: one revoke, the repeat is told so
            with session_scope(self.d.engine) as s:
                first = repos.find_by_dedupe(s, dedupe_key=dedupe_key or "")
            return Outcome(True, "Already revoking.", "duplicate", {"request_id": first.id if first else ""})

    def _record_incident(self, user: str, channel: str, cmd: cmds.Revoke, step: int, now: datetime,
                         dedupe_key: str | None) -> Outcome:
        with session_scope(self.d.engine) as s:
            if not cmd.all:
                key = repos.get_key(s, api_key=cmd.api_key or "")
                if key is None or key.sub_account != cmd.sub_account or key.state in (KeyState.DELETED, KeyState.GONE):
                    raise Refused(f"kukey holds no key {cmd.api_key} in {cmd.sub_account}.", reason="unknown_key")
            row = Request(id=cmds.new_request_id(), kind=Kind.REVOKE.value, state=State.REVOKING.value,
                          requester=user, sub_account=cmd.sub_account, reason=cmd.reason, approvals_needed=0,
                          incident=True, target_api_key=cmd.api_key, revoke_all=cmd.all, origin_channel=channel,
                          channel=channel, dedupe_key=dedupe_key, created_at=now, expires_at=now, approved_at=now)
            s.add(row)
            s.flush()
            repos.schedule(s, kind=JobKind.REVOKE, ref=row.id, run_at=now)
            self.d.audit.record(s, AuditAction.REVOKE_INCIDENT, actor=user, request_id=row.id,
                                sub_account=cmd.sub_account, api_key=cmd.api_key,
                                detail={"all": cmd.all, "reason": cmd.reason, "channel": channel,
                                        "second_factor": "totp", "step": step})
        return Outcome(True, "Revoking now.", "revoking", {"request_id": row.id})

    def run(self, request_id: str) -> None:
        """Delete the request's key(s) and announce. Idempotent: a retry skips keys already deleted."""
        with session_scope(self.d.engine) as s:
            row = repos.get_request(s, request_id=request_id)
            if row is None or row.state != State.REVOKING:
                return
            if row.revoke_all:
                targets = _deletable(s, row.sub_account)
            else:
                targets = [row.target_api_key] if row.target_api_key else []
            sub, actor, incident = row.sub_account, row.requester, row.incident
            again = repos.job_attempts(s, kind=JobKind.REVOKE, ref=request_id) > 1
        gone = self._gone_already(sub, targets) if again and len(targets) > 1 else set()
        results = self.deleter.delete_many(targets, actor=actor, request_id=request_id,
                                           why="incident revoke" if incident else "revoke", incident=incident,
                                           gone=gone)
        unknown = self._unmanaged(sub) if row.revoke_all else []
        failed = [r for r in results if not r.ok]
        with session_scope(self.d.engine) as s:
            if failed:
                repos.schedule(s, kind=JobKind.REVOKE, ref=request_id,
                               run_at=self.d.clock.now() + timedelta(minutes=1))
            else:
                repos.transition(s, request_id=request_id, src=State.REVOKING, dst=State.DONE,
                                 resolved_at=self.d.clock.now())
            self.d.audit.record(s, AuditAction.REVOKE_PARTIAL if failed else AuditAction.REVOKE_FINISHED, actor="kukey",
                                request_id=request_id, sub_account=sub,
                                outcome="ok" if not failed else "failed",
                                detail={"deleted": [r.api_key for r in results if r.ok],
                                        "failed": [r.api_key for r in failed], "unmanaged": unknown,
                                        "incident": incident})
            row2 = repos.get_request(s, request_id=request_id)
            assert row2 is not None
            self.d.outbox.event(s, "revoked", view(s, row2), deleted=[r.api_key for r in results if r.ok],
                                failed=[r.api_key for r in failed], unmanaged=unknown)

    def _gone_already(self, sub: str, targets: list[str]) -> set[str]:
        """A revoke run again (its first holder died mid-way, or it failed and is retried) asks the exchange
        once which of its keys are still there: a key an earlier run deleted is recorded as deleted without
        another delete, and without the one listing per key the client makes to confirm an "already gone"
        answer. Those calls would spend the Management pool's budget twice over: after a replica died
        deleting 30 keys, the survivor's run waited ~18 s for KuCoin's next window before it could announce
        the revoke. Empty when the listing fails (every key is then deleted as usual)."""
        try:
            there = {k.api_key for k in self.d.exchange.list_keys(sub)}
        except ExchangeError:
            return set()
        return {k for k in targets if k not in there}

    def _unmanaged(self, sub: str) -> list[str]:
        """Keys at the exchange that kukey holds no passphrase for (created outside kukey)."""
        with session_scope(self.d.engine) as s:
            ours = {k.api_key for k in repos.keys_of(s, sub_account=sub, states=(*DELETABLE, KeyState.DELETED))}
        try:
            return [k.api_key for k in self.d.exchange.list_keys(sub) if k.api_key not in ours]
        except Exception:  # listing is informational here; the revoke itself already happened
            return []


def _deletable(s: Session, sub_account: str) -> list[str]:
    """The keys of `sub_account` a revoke of all of them deletes: not deleted yet, with a passphrase kukey holds."""
    return [k.api_key for k in repos.keys_of(s, sub_account=sub_account, states=DELETABLE)
            if k.passphrase_enc is not None]

