"""`/kukey <subcommand>` and the create form: parsed at the edge, acked at once, the rest after the ack.

`answer` is the ack: a command that does not parse is refused there with its usage (by the error handler);
help, pending, status and enroll are answered in the ack itself. After the ack, `open_form` opens the create,
incident-revoke or kill-switch form in time for the trigger_id (in the serving process); `work` runs any
other command and replies privately (in kukey's worker process when there is one, bot.slack.handoff).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.domain import commands as cmds
from bot.domain.usage import help_text
from bot.errors import UsageError
from bot.services.ports import Outcome
from bot.services.workflow import Origin
from bot.slack import blocks, ids, messages, payload, replies, status, views
from bot.slack.payload import InvalidInput

if TYPE_CHECKING:
    from bot.services.registry import Services

_ANSWERED_IN_THE_ACK = (cmds.Help, cmds.Pending, cmds.Status, cmds.Enroll)


def answered_in_the_ack(body: dict[str, Any]) -> bool:
    """Bolt's listener matcher for help, pending, status and enroll: their listener has no lazy function, so
    Bolt makes no copy of the request for one. A command whose answer is a form goes to the listener with
    `open_form` (`opens_a_form`); any other (or one this cannot tell) to the listener with `work`, which
    finds nothing to do when the ack said it all."""
    return cmds.subcommand(payload.text(body, "text")) in cmds.ANSWERED_AT_ONCE


def _parse(svc: Services, body: dict[str, Any]) -> cmds.Command:
    return svc.parse(payload.text(body, "text"))


def _parsed(svc: Services, body: dict[str, Any]) -> cmds.Command | None:
    """The command, or None when it does not parse (its ack already said why)."""
    try:
        return _parse(svc, body)
    except UsageError:
        return None


def answer(ack: Ack, body: dict[str, Any], *, svc: Services) -> None:
    user = payload.user(body)
    cmd = _parse(svc, body)
    if isinstance(cmd, cmds.Help):
        ack(text=help_text())
    elif isinstance(cmd, cmds.Pending):
        ack(text=status.pending_text(svc.inventory.pending()))
    elif isinstance(cmd, cmds.Status):
        found = svc.inventory.status(cmd.request_id)
        ack(text=status.status_text(found) if found else status.unknown(cmd.request_id))
    elif isinstance(cmd, cmds.Enroll) and svc.enrollment.is_enrolled(user):
        ack(blocks=blocks.reenroll_offer(), text=messages.ALREADY_ENROLLED)
    elif isinstance(cmd, cmds.Enroll):
        new = svc.enrollment.start(user, account=payload.text(body, "user_name") or user)
        ack(blocks=blocks.enroll_message(new.uri.reveal(), new.seed.reveal()), text=messages.ENROLLMENT)
    else:
        ack()


def opens_a_form(body: dict[str, Any], *, svc: Services) -> bool:
    """Bolt's listener matcher for the commands whose answer is a form (`open_form`): create without
    arguments, revoke in an incident channel, the kill switch. Their work opens a modal with the command's
    trigger_id, which lives ~3 s, so it stays in the serving process; `work` (the rest) may be handed to
    kukey's worker."""
    cmd = _parsed(svc, body)
    return _form_for(svc, body, cmd) is not None


def _form_for(svc: Services, body: dict[str, Any], cmd: cmds.Command | None) -> str | None:
    user, channel = payload.user(body), payload.channel(body)
    if isinstance(cmd, cmds.Create) and cmd.spec is None:
        return "create"
    if isinstance(cmd, cmds.Revoke) and svc.revoker.is_incident(user, channel):
        return "revoke"
    return "kill switch" if isinstance(cmd, cmds.RevokeEverything) else None


def open_form(body: dict[str, Any], client: WebClient, *, svc: Services) -> None:
    cmd = _parsed(svc, body)
    form, user = _form_for(svc, body, cmd), payload.user(body)
    channel, trigger = payload.channel(body), payload.text(body, "trigger_id")
    if form == "create":
        replies.open_form(client, body, views.create_modal(svc.sub_accounts.known() or [], {"c": channel}))
    elif form == "revoke" and isinstance(cmd, cmds.Revoke):
        replies.open_form(client, body, views.revoke_modal(cmd, channel, trigger))
    elif form == "kill switch" and isinstance(cmd, cmds.RevokeEverything):
        offer, reason = svc.kill_switch.offer(user, channel), cmd.reason
        replies.open_form_if(svc, client, body, offer, lambda: views.kill_switch_modal(
            int(offer.data["count"]), reason, channel, trigger))


def prepare_form(body: dict[str, Any], *, svc: Services) -> None:
    """Beside `open_form`, where the deletes run (kukey's worker): an incident revoke's or the kill switch's
    form is open, so the exchange's rate limits are learnt and its connections opened while the code is
    typed (Revoker.prepare, KillSwitch.prepare; only for someone who may use the form)."""
    cmd = _parsed(svc, body)
    form = _form_for(svc, body, cmd)
    if isinstance(cmd, cmds.Revoke) and form == "revoke":
        svc.revoker.prepare(cmd)
    elif isinstance(cmd, cmds.RevokeEverything) and form == "kill switch":
        svc.kill_switch.prepare(payload.user(body), payload.channel(body))


def handed_at_once(body: dict[str, Any], *, svc: Services) -> bool:
    """Whether the command goes to the listener whose ack (`answer`) is empty and whose work is `work`: not
    answered in the ack, parses, and opens no form. The HTTP gate asks it before Bolt sees the command, to
    hand such a command to the worker at once (bot.slack.handoff.CommandShortcut); what it refuses is
    Bolt's, so a command that does not parse still gets its usage from the ack."""
    if answered_in_the_ack(body):
        return False
    cmd = _parsed(svc, body)
    return cmd is not None and not isinstance(cmd, _ANSWERED_IN_THE_ACK) and _form_for(svc, body, cmd) is None


def work(body: dict[str, Any], *, svc: Services) -> None:
    """The work behind any other command (`opens_a_form` took the forms), then its private answer."""
    cmd = _parsed(svc, body)
    if cmd is None or isinstance(cmd, _ANSWERED_IN_THE_ACK) or _form_for(svc, body, cmd) is not None:
        return
    user, channel, trigger = payload.user(body), payload.channel(body), payload.text(body, "trigger_id")
    text = _run(svc, user, cmd, Origin(channel, trigger or None))
    if text:
        replies.reply(svc, body, text)


def _run(svc: Services, user: str, cmd: cmds.Command, origin: Origin) -> str:
    """What the person is told once `cmd` ran ("" when the notifier tells them)."""
    if isinstance(cmd, cmds.Create) and cmd.dry_run:
        return svc.rules.explain(user, cmd)
    if isinstance(cmd, cmds.Create | cmds.Rotate | cmds.Revoke | cmds.Update):
        return _submitted(svc, svc.workflow.submit(user, cmd, origin))
    if isinstance(cmd, cmds.List):
        return svc.inventory.list_text(user, cmd.sub_account)
    if isinstance(cmd, cmds.Cancel):
        return svc.workflow.cancel(cmd.request_id, user).message
    if isinstance(cmd, cmds.Audit):
        text = svc.inventory.audit_text(user, cmd.n, cmd.sub_account)
        if svc.rules.may_audit(user).allowed:
            text += "\n" + messages.checkpoint_posted(svc.checkpoints.post(actor=user))
        return text
    return ""


# --- the create form (`/kukey create` without arguments) ---------------------------------------------------
def _form_command(svc: Services, view: Any) -> cmds.Create:
    """The create form as the command it describes; what does not parse is shown under the first input."""
    text = payload.create_text_from_form(payload.dig(view, "state", "values"))
    try:
        cmd = svc.parse(text)
    except UsageError as exc:
        raise InvalidInput(messages.for_user(exc), block=ids.SUB_BLOCK) from None
    if not isinstance(cmd, cmds.Create) or cmd.spec is None:
        raise InvalidInput(messages.NO_KEY_IN_FORM, block=ids.SUB_BLOCK)
    return cmd


def check_form(ack: Ack, view: dict[str, Any], *, svc: Services) -> None:
    _form_command(svc, view)
    ack()


def submit_form(body: dict[str, Any], view: dict[str, Any], *, svc: Services) -> None:
    """The form has no response_url: a refusal reaches the requester as a private note."""
    try:
        cmd = _form_command(svc, view)
    except InvalidInput:
        return  # the ack kept the form open with the reason
    origin = Origin(payload.metadata(view).get("c", ""), payload.text(body, "trigger_id") or None)
    text = _submitted(svc, svc.workflow.submit(payload.user(body), cmd, origin))
    if text:
        replies.reply(svc, body, text)


def _submitted(svc: Services, out: Outcome) -> str:
    """What the requester is told at once about a submission: why not, or that its post is on its way (the
    link follows from the outbox once it is there); nothing for a delivery Slack repeated."""
    if not out.ok:
        return out.message
    if out.reason == "duplicate":
        return ""
    return messages.recorded(str(out.data["request_id"]), svc.deps.policy().approvals_channel)
