"""What `/kukey pending` and `/kukey status <id>` say: one line per request, and for one request what fits
its kind. A request under approval shows its approvals and deadlines; an incident revoke and the kill switch
need no approval, so they show who commanded them, and the kill switch how far its deletes got and how
it ended. Pure functions of the read model (bot.services.inventory).
"""

from __future__ import annotations

from typing import Final

from bot.domain.requests import STATE_LABEL, State
from bot.domain.timeutil import fmt
from bot.services.inventory import KillProgress, RequestStatus
from bot.services.ports import RequestView
from bot.slack.kill_switch_messages import deleted_of, failed_line
from bot.slack.messages import title, who

NO_OPEN_REQUESTS: Final = "No open requests."
# The state of a request that needs no approval (an incident revoke, the kill switch), in its own words.
_COMMANDED: Final = {State.REVOKING: "running", State.DONE: "done"}


def unknown(request_id: str) -> str:
    return f"There is no request `{request_id}`."


def pending_text(requests: list[RequestView]) -> str:
    if not requests:
        return NO_OPEN_REQUESTS
    return "Open requests:\n" + "\n".join(request_line(r) for r in requests)


def commanded_state(v: RequestView) -> str:
    """The state of a request that needs no approval (an incident revoke, the kill switch), in its own words."""
    return _COMMANDED.get(State(v.state), v.state)


def request_line(v: RequestView) -> str:
    """One request: its id, what it does, who asked, its state and where its approvals stand."""
    if v.approvals_needed == 0:  # commanded by an incident responder: nobody approves it
        return (f"`{v.id}` {title(v)}, commanded by {who(v.requester)}: *{commanded_state(v)}*"
                " (no approval needed)")
    approvers = ", ".join(who(a) for a in v.approvers)
    return (f"`{v.id}` {title(v)}, requested by {who(v.requester)}: *{v.state}* "
            f"({len(v.approvers)}/{v.approvals_needed} approvals{': ' + approvers if approvers else ''})")


def status_text(st: RequestStatus) -> str:
    v = st.request
    if st.progress is not None:
        lines = _kill_switch(v, st.progress)
    elif v.approvals_needed == 0:
        lines = [f"Commanded in <#{v.origin_channel}> at {fmt(v.created_at)} with TOTP."
                 if v.origin_channel else f"Commanded at {fmt(v.created_at)} with TOTP.", _ended(v)]
    else:
        lines = [f"Created {fmt(v.created_at)}; {_where_it_stands(v)}"]
    if v.reason:
        lines.append(f"Reason: {v.reason}")
    return "\n".join([request_line(v), *(line for line in lines if line)])


def _where_it_stands(v: RequestView) -> str:
    state = State(v.state)
    if state == State.PENDING:
        return f"expires {fmt(v.expires_at)} unless approved."
    if state == State.APPROVED:
        return f"reveal by {fmt(v.reveal_deadline)}."
    if state == State.EXPIRED:
        return f"expired {fmt(v.expires_at)} without enough approvals."
    if state in (State.DENIED, State.CANCELLED):
        note = f": {v.resolution_note}" if v.resolution_note else "."
        return f"{STATE_LABEL[state].lower()} by {who(v.resolved_by)} at {fmt(v.resolved_at)}{note}"
    if state in (State.REVEALING, State.REVOKING, State.UPDATING):
        return f"{STATE_LABEL[state].lower()}."
    note = f" ({v.resolution_note})" if v.resolution_note else ""
    return f"{STATE_LABEL[state].lower()} at {fmt(v.resolved_at)}{note}."


def _ended(v: RequestView) -> str:
    return f"Finished {fmt(v.resolved_at)}." if v.state == State.DONE and v.resolved_at else ""


def _kill_switch(v: RequestView, p: KillProgress) -> list[str]:
    """Who pulled it and where, n of N deleted, and the outcome (or how many keys are left)."""
    lines = [f"Pulled in <#{v.origin_channel}> at {fmt(v.created_at)} with TOTP and the typed count of keys.",
             deleted_of(p.deleted, p.total, len(p.failed)) + (f", {p.left} still to delete." if p.left else ".")]
    if p.failed:
        lines.append(failed_line(p.failed))
    if v.state == State.DONE:
        outcome = "every key deleted" if not p.failed and not p.left else "not every key deleted"
        lines.append(f"Finished {fmt(v.resolved_at)}: {outcome}; every key's outcome is in its thread.")
    return lines

