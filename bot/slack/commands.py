"""`/kukey <subcommand>`: parse at the edge, ack within Slack's deadline, do the rest after the ack."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from bot.domain import commands as cmds
from bot.errors import KukeyError, UsageError
from bot.services.workflow import Origin
from bot.slack import blocks, ids, messages

if TYPE_CHECKING:
    from bot.services.registry import Services

log = logging.getLogger("kukey.slack")


def create_text_from_form(values: Any) -> str:
    """Turn the create modal's state into the equivalent `create ...` text, so one parser checks both.
    Inputs of the wrong shape count as empty (a submission may carry junk)."""

    def get(block: str, action: str) -> dict[str, Any]:
        found = values.get(block) if isinstance(values, dict) else None
        found = found.get(action) if isinstance(found, dict) else None
        return found if isinstance(found, dict) else {}

    def text(block: str, action: str) -> str:
        value = get(block, action).get("value")
        return value.strip() if isinstance(value, str) else ""

    sub = text(ids.SUB_BLOCK, ids.SUB_INPUT)
    parts = ["create", sub or "?"]
    options = get(ids.PERMS_BLOCK, ids.PERMS_INPUT).get("selected_options")
    chosen = [o.get("value") for o in options if isinstance(o, dict)] if isinstance(options, list) else []
    if chosen:
        parts.append("perms=" + ",".join(str(c) for c in chosen))
    ips = text(ids.IPS_BLOCK, ids.IPS_INPUT).replace(" ", "")
    if ips:
        parts.append("ips=" + ips)
    expire = get(ids.EXPIRE_BLOCK, ids.EXPIRE_INPUT).get("selected_option")
    if isinstance(expire, dict) and isinstance(expire.get("value"), str):
        parts.append(f"expire={expire['value']}")
    reason = text(ids.REASON_BLOCK, ids.REASON_INPUT)
    if reason:
        parts.append(reason)
    return " ".join(parts)


class CommandHandler:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def handle(self, ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        user, channel = command["user_id"], command["channel_id"]
        text = str(command.get("text") or "")
        try:
            cmd = cmds.parse(text, sub_accounts=self.svc.sub_accounts.known())
        except UsageError as exc:
            # A typo is not a security event: one log line (never the text: it may hold a pasted secret),
            # no audit event, so nobody can flood the audit log with garbage. Policy refusals are audited.
            log.info("command rejected", extra={"chars": len(text)})
            ack(text=f"{exc}" + (f"\nUsage: `{exc.usage}`" if exc.usage else ""))
            return
        trigger = command.get("trigger_id")
        if isinstance(cmd, cmds.Help):
            ack(text=cmds.help_text())
        elif isinstance(cmd, cmds.Pending):
            ack(text=self.svc.inventory.pending_text(user))
        elif isinstance(cmd, cmds.Status):
            ack(text=self.svc.inventory.status_text(cmd.request_id))
        elif isinstance(cmd, cmds.Enroll):
            self._enroll(ack, user, command.get("user_name") or user)
        elif isinstance(cmd, cmds.Create) and cmd.spec is None:
            ack()
            form = blocks.create_modal(self.svc.sub_accounts.known() or [], {"c": channel})
            self.svc.deps.later(client.views_open, trigger_id=trigger, view=form)  # after the ack, in time
        elif isinstance(cmd, cmds.Revoke) and self.svc.revoker.is_incident(user, channel):
            ack()
            self.svc.deps.later(client.views_open, trigger_id=trigger, view=blocks.totp_modal(
                ids.REVOKE_VIEW, "Incident revoke", f"Break-glass revoke in `{cmd.sub_account}` "
                f"({'every key' if cmd.all else cmd.api_key}). Enter YOUR current TOTP code.",
                {"t": text, "c": channel, "d": trigger or ""}, submit="Revoke"))
        else:
            ack()
            self.svc.deps.later(self._later, user, cmd, Origin(channel, trigger), respond)

    def _enroll(self, ack: Ack, user: str, name: str) -> None:
        if self.svc.enrollment.is_enrolled(user):
            ack(blocks=blocks.reenroll_offer(), text="You are already enrolled.")
            return
        new = self.svc.enrollment.start(user, account=name)
        ack(blocks=blocks.enroll_message(new.uri.reveal(), new.seed.reveal()), text="TOTP enrollment")

    def _later(self, user: str, cmd: cmds.Command, origin: Origin, respond: Respond) -> None:
        try:
            text = self._run(user, cmd, origin, respond)
        except KukeyError as exc:
            text = messages.for_user(exc)
        except Exception:
            log.exception("command failed", extra={"command": type(cmd).__name__})
            text = messages.INTERNAL
        if text:
            respond(text=text, response_type="ephemeral", replace_original=False)

    def _run(self, user: str, cmd: cmds.Command, origin: Origin, respond: Respond) -> str:
        if isinstance(cmd, cmds.Create) and cmd.dry_run:
            return self.svc.rules.explain(user, cmd)
        if isinstance(cmd, cmds.Create | cmds.Rotate | cmds.Revoke):
            return self.submit_and_tell(user, cmd, origin, None)
        if isinstance(cmd, cmds.List):
            return self.svc.inventory.list_text(user, cmd.sub_account)
        if isinstance(cmd, cmds.Cancel):
            return self.svc.workflow.cancel(cmd.request_id, user).message
        if isinstance(cmd, cmds.Audit):
            text = self.svc.inventory.audit_text(user, cmd.n, cmd.sub_account)
            if self.svc.rules.may_audit(user).allowed:
                text += f"\nCheckpoint posted to the audit channel: `{self.svc.checkpoints.post(actor=user)}`"
            return text
        return ""

    def submit_and_tell(self, user: str, cmd: Any, origin: Origin, _: object) -> str:
        out = self.svc.workflow.submit(user, cmd, origin)
        if out.ok:
            return ""  # the requester gets the confirmation with the link from the notifier
        return out.message

    def submit_from_form(self, user: str, cmd: Any, origin: Origin) -> None:
        """The create form has no response_url: a refusal reaches the requester as a private note."""
        try:
            text = self.submit_and_tell(user, cmd, origin, None)
        except KukeyError as exc:
            text = messages.for_user(exc)
        if text:
            self.svc.notifier.tell(user, text, channel=origin.channel)
