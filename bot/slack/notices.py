"""What approvers are told about a request while it waits (bot.services.notices): the direct message with
the request and its Approve and Deny buttons, the reminders (direct messages and thread notes) and the
escalation. Each direct message is in the request's stream, after its post, so that it can carry the link
to it (LINK, bound when it is sent); the buttons are the post's own, so a click opens the same forms.
Once the request is approved, denied, cancelled or expired, every direct message sent about it (FOLLOWS) is
edited to say so, without buttons (Op.UPDATE_DIRECT: the dispatcher finds where each one landed); a click
on a button before that edit lands is refused by the workflow, which checks the request's state.
"""

from __future__ import annotations

from typing import Any, Final

from bot.domain.outbox import FOLLOWS, LINKS_THREAD, Op
from bot.domain.timeutil import fmt
from bot.services.ports import Planned, RequestView
from bot.slack import blocks
from bot.slack.messages import title, who

LINK: Final = "\ue000link\ue000"  # where the link to a request's post goes (the courier binds it when sending)
EVENTS: Final = frozenset({"approvers_notified", "approvers_reminded", "escalated"})
# Events that resolve a request waiting for approval: every direct message about it then says so, without buttons.
RESOLVING: Final = frozenset({"approved", "denied", "expired", "cancelled"})


def plan(name: str, req: RequestView, f: dict[str, Any]) -> list[Planned]:
    """The messages of a notice event: direct messages to `users`, and a thread note where one is due."""
    users: list[str] = list(f.get("users") or [])
    if name == "approvers_notified":
        return [_direct(req, user, asked(req), buttons=True) for user in users]
    if name == "approvers_reminded":
        planned = [_direct(req, user, reminder(req, f["number"]), buttons=True) for user in users]
        if f.get("in_thread"):
            planned.append(Planned(Op.REPLY, {"text": reminder_note(req, f["group"])}, req.id))
        return planned
    approvers = set(f.get("approvers") or [])
    return [*(_direct(req, user, escalated(req, f["group"], f["minutes"]), buttons=user in approvers)
              for user in users),
            Planned(Op.REPLY, {"text": escalated_note(f["group"], f["minutes"], users)}, req.id)]


def _direct(req: RequestView, user: str, text: str, *, buttons: bool) -> Planned:
    """A direct message to `user` (no channel: never ephemeral), linking to the request's post."""
    content = blocks.message(blocks.text_section(text)) + (blocks.request_message(req) if buttons else [])
    return Planned(Op.PRIVATE, {"user": user, "channel": "", LINKS_THREAD: True, FOLLOWS: True, "text": text,
                                "blocks": content}, req.id)


def resolved(req: RequestView, outcome: str) -> Planned:
    """Every direct message sent about `req` so far, rendered again: what happened, and no buttons."""
    text = f"Request `{req.id}` from {who(req.requester)} ({title(req)}) needs nothing more from you: {outcome}"
    content = blocks.message(blocks.text_section(text)) + blocks.request_message(req)
    return Planned(Op.UPDATE_DIRECT, {"text": text, "blocks": content}, req.id)


def _waiting(req: RequestView) -> str:
    missing = max(1, req.approvals_needed - len(req.approvers))
    return f"{missing} more approval{'s' if missing > 1 else ''}"


def asked(req: RequestView) -> str:
    return (f"{who(req.requester)} asks for your approval: {title(req)} (request `{req.id}`). "
            f"It is at {LINK}; approve it there or here, it expires at {fmt(req.expires_at)}.")


def reminder(req: RequestView, number: int) -> str:
    return (f"Reminder {number}: request `{req.id}` ({title(req)}) still needs {_waiting(req)}. "
            f"It is at {LINK}; it expires at {fmt(req.expires_at)}.")


def reminder_note(req: RequestView, group: list[str]) -> str:
    mentions = " ".join(f"<!subteam^{g}>" if g.startswith("S") else who(g)
                        for g in group if g not in req.approvers and g != req.requester)
    return (f"Reminder: {mentions + ', this' if mentions else 'This'} request still needs {_waiting(req)}; "
            f"it expires at {fmt(req.expires_at)}.")


def escalated(req: RequestView, group: str, minutes: int) -> str:
    return (f"Request `{req.id}` from {who(req.requester)} ({title(req)}) has waited {minutes} minutes and still "
            f"needs {_waiting(req)}; you are told as `{group}`. It is at {LINK}; it expires at "
            f"{fmt(req.expires_at)}.")


def escalated_note(group: str, minutes: int, users: list[str]) -> str:
    told = ", ".join(who(u) for u in users) or "nobody (the group is empty)"
    return f"Escalated to `{group}` after {minutes} minutes: {told} told."
