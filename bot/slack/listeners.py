"""Thin Bolt listeners: parse the payload, call one service, render the result.

Every listener acks first (with an inline modal error where the check is quick and local), then hands
slow work (KuCoin, Slack posts) to the worker pool. Services never see a Slack payload.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.domain import commands as cmds
from bot.errors import KukeyError, Refused, UsageError
from bot.services.ports import Delivery
from bot.services.workflow import Origin
from bot.slack import blocks, ids, messages
from bot.slack.commands import CommandHandler, create_text_from_form

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger("kukey.slack")


def _meta(view: dict[str, Any]) -> dict[str, str]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _code(view: dict[str, Any]) -> str:
    value = view.get("state", {}).get("values", {}).get(ids.CODE_BLOCK, {}).get(ids.CODE_INPUT, {}).get("value")
    return str(value or "").strip()


def _value(body: dict[str, Any]) -> str:
    acts = body.get("actions") or [{}]
    return str(acts[0].get("value") or "")


def register(app: App, svc: Services) -> None:
    commands = CommandHandler(svc)

    @app.command(ids.COMMAND)
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        commands.handle(ack, command, respond, client)

    @app.action(ids.APPROVE)
    def on_approve(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        rid, user = _value(body), body["user"]["id"]
        out = svc.workflow.may_start_approval(rid, user)
        if not out.ok:
            respond(text=out.message, response_type="ephemeral", replace_original=False)
            return
        client.views_open(trigger_id=body["trigger_id"], view=blocks.totp_modal(
            ids.APPROVE_VIEW, "Approve request", f"Approve request `{rid}`: enter your current TOTP code.",
            {"r": rid}, submit="Approve"))

    @app.view(ids.APPROVE_VIEW)
    def on_approve_code(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        rid, user = _meta(view).get("r", ""), body["user"]["id"]
        try:
            out = svc.workflow.approve(rid, user, _code(view))
        except KukeyError as exc:
            ack(response_action="errors", errors={ids.CODE_BLOCK: messages.for_user(exc)})
            return
        if not out.ok:
            ack(response_action="errors", errors={ids.CODE_BLOCK: out.message})
            return
        ack()

    @app.action(ids.DENY)
    def on_deny(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        rid, user = _value(body), body["user"]["id"]
        decision = svc.rules.may_deny_now(rid, user)
        if not decision.ok:
            respond(text=decision.message, response_type="ephemeral", replace_original=False)
            return
        client.views_open(trigger_id=body["trigger_id"], view=blocks.deny_modal(rid))

    @app.view(ids.DENY_VIEW)
    def on_deny_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view.get("state", {}).get("values", {})
        reason = str(values.get(ids.REASON_BLOCK, {}).get(ids.REASON_INPUT, {}).get("value") or "").strip()
        out = svc.workflow.deny(_meta(view).get("r", ""), body["user"]["id"], reason)
        if not out.ok:
            ack(response_action="errors", errors={ids.REASON_BLOCK: out.message})
            return
        ack()

    @app.action(ids.REVEAL)
    def on_reveal(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        rid, user = _value(body), body["user"]["id"]
        out = svc.reveal.check(rid, user)
        if not out.ok:
            respond(text=out.message, response_type="ephemeral", replace_original=False)
            return
        delivery = {"r": rid, "u": body.get("response_url", "")}
        if out.data.get("needs_totp"):
            client.views_open(trigger_id=body["trigger_id"], view=blocks.totp_modal(
                ids.REVEAL_VIEW, "Reveal key", f"Reveal the key for `{rid}`: enter YOUR current TOTP code. "
                "The key is created now and shown once.", delivery, submit="Reveal"))
            return
        _start_reveal(svc, rid, user, None, delivery["u"], respond=respond)

    @app.view(ids.REVEAL_VIEW)
    def on_reveal_code(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta, user = _meta(view), body["user"]["id"]
        try:
            out = svc.reveal.begin(meta.get("r", ""), user, _code(view))
        except KukeyError as exc:
            ack(response_action="errors", errors={ids.CODE_BLOCK: messages.for_user(exc)})
            return
        if not out.ok:
            ack(response_action="errors", errors={ids.CODE_BLOCK: out.message})
            return
        ack()
        svc.deps.later(svc.reveal.run, meta.get("r", ""), Delivery(meta.get("u", ""), user), out.data["passphrase"])

    @app.action(ids.WIPE)
    def on_wipe(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        respond(delete_original=True)
        svc.inventory.record_wipe(body["user"]["id"], _value(body))

    @app.action(ids.ENROLL_CONFIRM)
    def on_enroll_confirm(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=blocks.totp_modal(
            ids.ENROLL_VIEW, "Confirm enrollment", "Enter the code your authenticator shows for kukey.",
            {"u": body.get("response_url", "")}))

    @app.view(ids.ENROLL_VIEW)
    @app.view(ids.REENROLL_NEW_VIEW)
    def on_enroll_code(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            svc.enrollment.confirm(body["user"]["id"], _code(view))
        except KukeyError as exc:
            ack(response_action="errors", errors={ids.CODE_BLOCK: messages.for_user(exc)})
            return
        ack(response_action="clear")
        url = _meta(view).get("u")
        if url:  # replace the ephemeral that showed the seed, so it is not left on screen
            svc.deps.later(svc.notifier.respond, url, {"replace_original": True,
                                                       "text": "TOTP enrollment confirmed. You can approve now."})

    @app.action(ids.REENROLL)
    def on_reenroll(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=blocks.totp_modal(
            ids.REENROLL_VIEW, "Re-enroll", "Enter your CURRENT code to replace your authenticator seed.",
            {"u": body.get("response_url", "")}))

    @app.view(ids.REENROLL_VIEW)
    def on_reenroll_code(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        try:
            new = svc.enrollment.start(user, account=body["user"].get("username") or user, current_code=_code(view))
        except KukeyError as exc:
            ack(response_action="errors", errors={ids.CODE_BLOCK: messages.for_user(exc)})
            return
        ack(response_action="update", view=blocks.reenroll_new_modal(new.uri.reveal(), new.seed.reveal(),
                                                                      _meta(view)))

    @app.view(ids.REVOKE_VIEW)
    def on_revoke_code(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta, user = _meta(view), body["user"]["id"]
        try:
            cmd = cmds.parse(meta.get("t", ""))
            assert isinstance(cmd, cmds.Revoke)
            out = svc.revoker.incident(user, meta.get("c", ""), cmd, _code(view), dedupe_key=meta.get("d"))
        except KukeyError as exc:
            ack(response_action="errors", errors={ids.CODE_BLOCK: messages.for_user(exc)})
            return
        ack()
        svc.deps.later(svc.scheduler.run_now, "revoke", out.data["request_id"])

    @app.view(ids.CREATE_VIEW)
    def on_create_form(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user, meta = body["user"]["id"], _meta(view)
        text = create_text_from_form(view.get("state", {}).get("values", {}))
        try:
            cmd = cmds.parse(text, sub_accounts=svc.sub_accounts.known())
        except UsageError as exc:
            ack(response_action="errors", errors={ids.SUB_BLOCK: messages.for_user(exc)[:150]})
            return
        ack()
        assert isinstance(cmd, cmds.Create)
        svc.deps.later(commands.submit_from_form, user, cmd, Origin(meta.get("c", ""), body.get("trigger_id")))

    @app.error
    def on_error(error: Exception, body: dict[str, Any], logger: logging.Logger) -> None:
        if isinstance(error, KukeyError):
            log.warning("request failed", extra={"error": type(error).__name__, "detail": str(error)})
        else:
            log.exception("unexpected error in a listener", exc_info=error)


def _start_reveal(svc: Services, rid: str, user: str, code: str | None, response_url: str, *,
                  respond: Respond) -> None:
    out = svc.reveal.begin(rid, user, code)
    if not out.ok:
        respond(text=out.message, response_type="ephemeral", replace_original=False)
        return
    svc.deps.later(svc.reveal.run, rid, Delivery(response_url, user), out.data["passphrase"])


__all__ = ["messages", "register"]
