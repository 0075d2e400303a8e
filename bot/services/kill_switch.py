"""The desk-wide kill switch: `/kukey revoke everything` in an incident channel deletes every key kukey
holds, in every sub-account, on one responder's TOTP and the number of keys typed to confirm it.

    offer   may this person pull it here, and how many keys would go (the form shows the number)
    start   the typed number must be what kukey holds (else refused, audited, nothing done), then the
            TOTP code; the keys are snapshotted (table `kill_switch_key`), a `kill_switch` job scheduled
            and the progress message owed to the incident channel, in one transaction
    run     the job: the incident revoke's parallel deletes (bot.services.keys, paced by the exchange's
            rate pool), each outcome recorded as it lands, the progress message updated every
            PROGRESS_EVERY seconds, then the report of every key and the keys out of kukey's reach

The job holds a lease (bot.services.scheduler): if its process dies, any replica (or the restarted one)
claims it again once the lease passes and goes on with the keys whose outcome is not recorded yet.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.domain import commands as cmds
from bot.domain.actions import AuditAction
from bot.domain.jobs import JobKind
from bot.domain.requests import Kind, State
from bot.domain.text import noun
from bot.errors import Refused
from bot.services.deps import Deps, view
from bot.services.enrollment import Lockout
from bot.services.keys import DeleteResult, KeyDeleter
from bot.services.ports import Outcome
from bot.services.rules import Rules
from bot.storage import kill_switch as ks
from bot.storage import repos
from bot.storage.db import session_scope
from bot.storage.tables import KeyRecord, Request

log = logging.getLogger("kukey.kill_switch")
# Seconds between two progress updates while the deletes run: the issue asks for one at least every 5 s;
# one is owed only when the last one was delivered, so a slow Slack never makes them queue up.
PROGRESS_EVERY = 2.0
EVERY_SUB_ACCOUNT = "(every sub-account)"  # the kill switch's request names no one sub-account


class KillSwitch:
    def __init__(self, deps: Deps, rules: Rules, deleter: KeyDeleter, *,
                 progress_every: float = PROGRESS_EVERY) -> None:
        self.d = deps
        self.rules = rules
        self.deleter = deleter
        self.progress_every = progress_every

    def offer(self, user: str, channel: str) -> Outcome:
        """Whether `user` may pull the kill switch in `channel`; the number of keys it would delete."""
        try:
            self._may(user, channel)
        except Refused as exc:
            return Outcome(False, str(exc), exc.reason)
        with session_scope(self.d.engine) as s:
            return Outcome(True, reason="offered", data={"count": len(ks.held_keys(s))})

    def prepare(self, user: str, channel: str) -> None:
        """While a responder who may pull it types the code and the count: the first window's deletes are
        readied as an incident revoke's are (Exchange.ready_deletes: the rate pool learnt, a connection opened
        per delete, at most a window's). Reads only; nothing for someone the form is refused to (refused and
        audited once, by `offer`)."""
        if self._refusal(user, channel) is not None:
            return
        with session_scope(self.d.engine) as s:
            keys = ks.held_keys(s)
        if keys:
            self.d.exchange.ready_deletes(keys[0].sub_account, len(keys))

    def start(self, user: str, channel: str, *, code: str, typed_count: str, reason: str,
              dedupe_key: str | None) -> Outcome:
        """Check, then record the kill switch; its deletes run after the ack. Raises Refused."""
        with session_scope(self.d.engine) as s:
            first = repos.find_by_dedupe(s, dedupe_key=dedupe_key) if dedupe_key else None
        if first is not None:  # the same submission delivered again (Slack retried it): one kill switch
            return Outcome(True, "Already running.", "duplicate", {"request_id": first.id})
        self._may(user, channel)
        self._check_count(user, channel, typed_count)  # before the code: a typo does not spend a code
        step = self.d.enrollment.check(user, code, purpose="kill_switch",
                                       lockout=Lockout(*self.rules.totp_lockout()))
        try:
            return self._record(user, channel, reason, step, typed_count, dedupe_key)
        except IntegrityError:  # the same submission delivered twice at once: one kill switch
            with session_scope(self.d.engine) as s:
                first = repos.find_by_dedupe(s, dedupe_key=dedupe_key or "")
            return Outcome(True, "Already running.", "duplicate", {"request_id": first.id if first else ""})

    def _may(self, user: str, channel: str) -> None:
        refusal = self._refusal(user, channel)
        if refusal is not None:
            self._refuse(user, channel, *refusal)

    def _refusal(self, user: str, channel: str) -> tuple[str, str] | None:
        """Why `user` may not pull the kill switch in `channel` now (reason, message), or None; not audited."""
        decision = self.rules.may_revoke_alone(user, channel)
        if not decision.allowed:
            return decision.reason, "`revoke everything` works only in an incident channel, for a responder."
        with session_scope(self.d.engine) as s:
            under_way = ks.running(s)
        if under_way is not None:
            return "running", f"A kill switch is already running: `{under_way.id}`."
        return None

    def _check_count(self, user: str, channel: str, typed: str) -> None:
        with session_scope(self.d.engine) as s:
            held = len(ks.held_keys(s))
        if typed.strip() != str(held):
            self._refuse(user, channel, "count_mismatch",
                         f"kukey holds {held} {noun(held, 'key')}, not {typed.strip() or 'nothing'}: nothing was "
                         f"deleted. Type {held} to delete {'it' if held == 1 else 'them all'}.",
                         typed=typed[:20], held=held)

    def _refuse(self, user: str, channel: str, reason: str, message: str, **detail: Any) -> NoReturn:
        with session_scope(self.d.engine) as s:
            self.d.audit.record(s, AuditAction.KILL_SWITCH_REFUSED, actor=user, outcome="refused",
                                detail={"why": reason, "channel": channel, **detail})
        raise Refused(message, reason=reason)

    def _record(self, user: str, channel: str, reason: str, step: int, typed: str,
                dedupe_key: str | None) -> Outcome:
        with session_scope(self.d.engine) as s:
            keys, under_way = ks.held_keys(s), ks.running(s)
            if under_way is None and str(len(keys)) == typed.strip():
                row = self._add(s, user, channel, reason, step, keys, dedupe_key)
                return Outcome(True, "Deleting every key now.", "started", {"request_id": row.id})
        # Between the checks and this transaction a key came or went, or another kill switch started.
        held = f"{len(keys)} {noun(len(keys), 'key')}"
        self._refuse(user, channel, "count_changed" if under_way is None else "running",
                     f"kukey now holds {held}: nothing was deleted; try again." if under_way is None
                     else f"A kill switch is already running: `{under_way.id}`.")

    def _add(self, s: Session, user: str, channel: str, reason: str, step: int, keys: list[KeyRecord],
             dedupe_key: str | None) -> Request:
        """The kill switch's request, its keys, its job, its audit event and its progress message."""
        now = self.d.clock.now()
        row = Request(id=cmds.new_request_id(), kind=Kind.KILL_SWITCH.value, state=State.REVOKING.value,
                      requester=user, sub_account=EVERY_SUB_ACCOUNT, reason=reason, approvals_needed=0,
                      incident=True, revoke_all=True, origin_channel=channel, dedupe_key=dedupe_key,
                      created_at=now, expires_at=now, approved_at=now)
        s.add(row)
        s.flush()
        ks.add_targets(s, request_id=row.id, keys=keys)
        repos.schedule(s, kind=JobKind.KILL_SWITCH, ref=row.id, run_at=now)
        self.d.audit.record(s, AuditAction.KILL_SWITCH_STARTED, actor=user, request_id=row.id,
                            detail={"keys": len(keys), "sub_accounts": len({k.sub_account for k in keys}),
                                    "reason": reason, "channel": channel, "second_factor": "totp",
                                    "step": step})
        self.d.outbox.event(s, "kill_started", view(s, row), progress=self._progress(s, row.id, done=False))
        return row

    def run(self, request_id: str) -> None:
        """The job: delete the keys whose outcome is not recorded yet, then report. Idempotent."""
        with session_scope(self.d.engine) as s:
            row = repos.get_request(s, request_id=request_id)
            if row is None or row.state != State.REVOKING or row.kind != Kind.KILL_SWITCH:
                return
            targets, actor = ks.pending(s, request_id=request_id), row.requester
        stop = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(request_id, stop), name="kukey-kill-progress",
                                  daemon=True)
        ticker.start()
        try:
            self.deleter.delete_many(targets, actor=actor, request_id=request_id, why="kill switch", incident=True,
                                     each=lambda result: self._note(request_id, result))
        finally:
            stop.set()
            ticker.join()
        self._finish(request_id)

    def _note(self, request_id: str, result: DeleteResult) -> None:
        with session_scope(self.d.engine) as s:
            ks.record(s, request_id=request_id, api_key=result.api_key, ok=result.ok, error=result.error,
                      at=self.d.clock.now())

    def _tick(self, request_id: str, stop: threading.Event) -> None:
        while not stop.wait(self.progress_every):
            try:
                self._update(request_id)
            except Exception:  # the database busy: the next tick tries again; the deletes go on regardless
                log.exception("could not owe a progress update", extra={"request_id": request_id})

    def _update(self, request_id: str) -> None:
        """Owe the progress message its next state, unless the last one is still on its way."""
        with session_scope(self.d.engine) as s:
            if ks.update_owed(s, request_id=request_id):
                return
            row = repos.get_request(s, request_id=request_id)
            if row is None or row.state != State.REVOKING:
                return
            self.d.outbox.event(s, "kill_progress", view(s, row), progress=self._progress(s, request_id, done=False))

    def _progress(self, s: Session, request_id: str, *, done: bool) -> dict[str, Any]:
        tally = ks.tally(s, request_id=request_id)
        return {"total": tally.total, "deleted": tally.deleted, "done": done,
                "failed": [[k.sub_account, k.api_key, k.error] for k in tally.failed],
                "seconds_left": 0.0 if done else round(self.d.exchange.delete_wait(tally.left), 1)}

    def _finish(self, request_id: str) -> None:
        now = self.d.clock.now()
        with session_scope(self.d.engine) as s:
            keys = ks.outcomes(s, request_id=request_id)
            unreachable = [[k.sub_account, k.api_key] for k in ks.out_of_reach(s)]
            repos.transition(s, request_id=request_id, src=State.REVOKING, dst=State.DONE, resolved_at=now)
            failed = [k.api_key for k in keys if k.outcome != ks.DELETED]
            self.d.audit.record(s, AuditAction.KILL_SWITCH_FINISHED, actor="kukey", request_id=request_id,
                                outcome="failed" if failed else "ok",
                                detail={"deleted": [k.api_key for k in keys if k.outcome == ks.DELETED],
                                        "failed": failed, "out_of_reach": [k for _, k in unreachable]})
            row = repos.get_request(s, request_id=request_id)
            assert row is not None
            self.d.outbox.event(s, "kill_finished", view(s, row), progress=self._progress(s, request_id, done=True),
                                keys=[[k.sub_account, k.api_key, k.outcome, k.error] for k in keys],
                                out_of_reach=unreachable, finished_at=_stamp(now))


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")
