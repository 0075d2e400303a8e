"""Break-glass revoke in an incident channel: the responder's own TOTP, no second person; and the kill
switch (`revoke everything`), which also needs the number of keys typed to confirm.

The form (opened by bot.slack.listeners.commands) carries the sub-account, the key (or `all`), the channel
and the command's trigger_id (the dedupe key) in its metadata, and the reason in an input. The ack checks
the code and records the revoke; deleting at KuCoin runs after it (`Deps.later` with the new request's id,
which only the ack knows).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack

from bot.domain import commands as cmds
from bot.domain.jobs import JobKind
from bot.errors import Refused, UsageError
from bot.slack import ids, messages, payload
from bot.slack.listeners.errors import accepted

if TYPE_CHECKING:
    from bot.services.registry import Services


def _command(svc: Services, meta: dict[str, str], reason: str) -> cmds.Revoke:
    """The revoke the form describes (its ids checked again: they come back from Slack)."""
    cmd = svc.parse(f"revoke {meta.get('s', '')} {meta.get('k', '')}", check_sub_account=False)
    if not isinstance(cmd, cmds.Revoke):
        raise UsageError(messages.NOT_A_REVOKE_FORM)
    return dataclasses.replace(cmd, reason=reason)


def revoke(ack: Ack, body: dict[str, Any], view: dict[str, Any], *, svc: Services) -> None:
    meta = payload.metadata(view)
    cmd = _command(svc, meta, payload.reason(view))
    out = accepted(svc.revoker.incident(payload.user(body), meta.get("c", ""), cmd, payload.code(view),
                                        dedupe_key=meta.get("d")))
    ack()
    svc.deps.later(svc.scheduler.run_now, JobKind.REVOKE, out.data["request_id"])


def kill_switch(ack: Ack, body: dict[str, Any], view: dict[str, Any], *, svc: Services) -> None:
    """The kill switch's form: a number other than the keys kukey holds is refused under its input."""
    meta = payload.metadata(view)
    try:
        out = accepted(svc.kill_switch.start(payload.user(body), meta.get("c", ""), code=payload.code(view),
                                             typed_count=payload.typed(view, ids.COUNT_BLOCK, ids.COUNT_INPUT),
                                             reason=payload.reason(view), dedupe_key=meta.get("d")))
    except Refused as exc:
        if exc.reason in ("count_mismatch", "count_changed"):
            raise payload.InvalidInput(str(exc), block=ids.COUNT_BLOCK) from None
        raise
    ack()
    svc.deps.later(svc.scheduler.run_now, JobKind.KILL_SWITCH, out.data["request_id"])
