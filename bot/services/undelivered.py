"""A message kukey gave up on: on record, the admins told, and nothing left where nobody can see it.

Runs in the transaction that marks the item given up: the `message.given_up` audit event; a request whose
post never reached the approvals channel (so nobody could approve it) is cancelled, with its own audit
event, and the requester is told; the admins (policy group `admins`) get a direct message. A message to
the admins about a give-up is not itself reported again when it is given up (only audited and logged).
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from bot.domain.actions import AuditAction
from bot.domain.jobs import WHILE_PENDING
from bot.domain.outbox import ABOUT_A_GIVE_UP, SETS_THREAD, Op
from bot.domain.requests import State
from bot.services.deps import Deps, view
from bot.storage import repos
from bot.storage.outbox import Claimed

log = logging.getLogger("kukey.outbox")
NOT_POSTED = "it could not be posted to the approvals channel"


class Undelivered:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    def admins(self) -> frozenset[str]:
        """Who to tell (user groups resolved): call before the transaction, it may ask Slack."""
        return self.d.directory.members(frozenset(self.d.policy().group("admins")))

    def give_up(self, s: Session, claim: Claimed, error: str, admins: frozenset[str]) -> None:
        """Record the give-up of `claim`'s item (already marked given up in `s`) and its consequences."""
        log.error("message given up", extra={"op": claim.op, "stream": claim.stream, "error": error,
                                             "attempts": claim.attempt, "request_id": claim.request_id})
        self.d.audit.record(s, AuditAction.MESSAGE_GIVEN_UP, actor="kukey", request_id=claim.request_id,
                            outcome="failed", detail={"op": claim.op, "stream": claim.stream, "error": error,
                                                      "attempts": claim.attempt, "outbox_id": claim.id})
        if claim.params.get(ABOUT_A_GIVE_UP):
            return
        cancelled = self._cancel_unseen(s, claim, error)
        self.d.outbox.add(s, self.d.notifier.plan_given_up(admins, op=claim.op, error=error,
                                                           request_id=claim.request_id, cancelled=cancelled))

    def _cancel_unseen(self, s: Session, claim: Claimed, error: str) -> bool:
        """A request's post given up while it is pending: cancel it and tell the requester. True if so."""
        rid = claim.request_id
        if claim.op != Op.POST or not claim.params.get(SETS_THREAD) or rid is None:
            return False
        if not repos.transition(s, request_id=rid, src=State.PENDING, dst=State.CANCELLED,
                                resolved_at=self.d.clock.now(), resolved_by="kukey", resolution_note=NOT_POSTED):
            return False
        repos.cancel_jobs(s, kinds=WHILE_PENDING, ref=rid)
        row = repos.get_request(s, request_id=rid)
        assert row is not None
        self.d.audit.record(s, AuditAction.REQUEST_CANCELLED, actor="kukey", request_id=rid,
                            sub_account=row.sub_account, detail={"note": NOT_POSTED, "error": error})
        self.d.outbox.event(s, "not_posted", view(s, row), error=error, channel=self.d.policy().approvals_channel)
        return True
