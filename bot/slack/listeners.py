"""Thin Bolt listeners: parse the payload, call one service, render the result.

Every listener acks first (with an inline modal error where the check is quick and local), then hands
slow work (KuCoin, Slack posts) to the worker pool. Services never see a Slack payload.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.domain import commands as cmds
from bot.errors import KukeyError, UsageError
from bot.services.ports import Delivery, Outcome
from bot.services.workflow import Origin
from bot.slack import blocks, ids, messages
from bot.slack.commands import CommandHandler, create_text_from_form

if TYPE_CHECKING:
    from bot.services.registry import Services

log = logging.getLogger("kukey.slack")

T = TypeVar("T")

def _dig(node: Any, *keys: str) -> Any:
    """node[k1][k2]...; None where a level is missing or not an object (payloads may carry junk)."""
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _text(node: Any, *keys: str) -> str:
    value = _dig(node, *keys)
    return value if isinstance(value, str) else ""


def _meta(view: dict[str, Any]) -> dict[str, str]:
    try:
        data = json.loads(_text(view, "private_metadata") or "{}")
    except (ValueError, RecursionError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def _code(view: dict[str, Any]) -> str:
    return _text(view, "state", "values", ids.CODE_BLOCK, ids.CODE_INPUT, "value").strip()


def _value(body: dict[str, Any]) -> str:
    acts = body.get("actions")
    return _text(acts[0] if isinstance(acts, list) and acts else None, "value")


def _user(body: dict[str, Any]) -> str:
    return _text(body, "user", "id")


def _refuse(ack: Ack, block: str, message: str, reason: str) -> None:
    """Keep the modal open with `message` under `block`; one log line says why (never what was typed)."""
    log.info("interaction refused", extra={"reason": reason})
    ack(response_action="errors", errors={block: message})


def _why(exc: KukeyError) -> str:
    return getattr(exc, "reason", "") or type(exc).__name__


def _inline(ack: Ack, block: str, call: Callable[[], T]) -> T | None:
    """Run a modal's service call; a refusal (raised, or an Outcome that is not ok) keeps the modal open
    with the reason under `block` and returns None; anything else is returned for the caller to ack."""
    try:
        out = call()
    except KukeyError as exc:
        _refuse(ack, block, messages.for_user(exc), _why(exc))
        return None
    if isinstance(out, Outcome) and not out.ok:
        _refuse(ack, block, out.message, out.reason)
        return None
    return out


def _tell(respond: Respond, body: dict[str, Any], message: str, reason: str) -> None:
    """Answer a click privately; one log line says why."""
    log.info("interaction refused", extra={"reason": reason})
    if body.get("response_url"):
        respond(text=message, response_type="ephemeral", replace_original=False)


def _acked_first(listener: Callable[..., None]) -> Callable[..., None]:
    """Bolt drops an ack already given when its listener raises afterwards, and Slack's request then hangs
    until Bolt's ack timeout. After the ack, a failure is logged here once and the ack stands."""

    @functools.wraps(listener)
    def run(**kwargs: Any) -> None:
        try:
            listener(**kwargs)
        except Exception as exc:
            if kwargs["ack"].response is None:
                raise  # not acked yet: Bolt's error handler answers and logs it
            if isinstance(exc, KukeyError):
                log.warning("request failed after its ack", extra={"error": type(exc).__name__,
                                                                    "detail": str(exc)})
            else:
                log.exception("listener failed after its ack", exc_info=exc)

    return run


class _AlreadyAcked:
    """The ack a listener body sees once the real ack was already sent: calling it does nothing."""

    response = "sent"

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None


_noop_ack = _AlreadyAcked()


def _ack_then_later(svc: Services) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """For clicks: ack at once (Slack needs nothing else), then run the listener on the worker pool, so the
    HTTP answer never waits for a database read, a Slack call or KuCoin. The listener keeps its `ack`
    parameter (Bolt injects by name) but receives one that was already sent."""

    def decorate(listener: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(listener)
        def run(**kwargs: Any) -> None:
            kwargs.pop("ack")()
            svc.deps.later(_acked_first(listener), ack=_noop_ack, **kwargs)

        return run

    return decorate


def register(app: App, svc: Services) -> None:
    commands = CommandHandler(svc)
    acked = _ack_then_later(svc)

    @app.command(ids.COMMAND)
    @_acked_first
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        commands.handle(ack, command, respond, client)

    @app.action(ids.APPROVE)
    @acked
    def on_approve(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        rid, user = _value(body), _user(body)
        out = svc.workflow.may_start_approval(rid, user)
        if not out.ok:
            _tell(respond, body, out.message, out.reason)
            return
        client.views_open(trigger_id=body["trigger_id"], view=blocks.totp_modal(
            ids.APPROVE_VIEW, "Approve request", f"Approve request `{rid}`: enter your current TOTP code.",
            {"r": rid}, submit="Approve"))

    @app.view(ids.APPROVE_VIEW)
    @_acked_first
    def on_approve_code(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        rid, user = _meta(view).get("r", ""), _user(body)
        if _inline(ack, ids.CODE_BLOCK, lambda: svc.workflow.approve(rid, user, _code(view))):
            ack()

    @app.action(ids.DENY)
    @acked
    def on_deny(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        rid, user = _value(body), _user(body)
        decision = svc.rules.may_deny_now(rid, user)
        if not decision.ok:
            _tell(respond, body, decision.message, decision.reason)
            return
        client.views_open(trigger_id=body["trigger_id"], view=blocks.deny_modal(rid))

    @app.view(ids.DENY_VIEW)
    @_acked_first
    def on_deny_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = _text(view, "state", "values", ids.REASON_BLOCK, ids.REASON_INPUT, "value").strip()
        if _inline(ack, ids.REASON_BLOCK, lambda: svc.workflow.deny(_meta(view).get("r", ""), _user(body), reason)):
            ack()

    @app.action(ids.REVEAL)
    @acked
    def on_reveal(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        rid, user = _value(body), _user(body)
        out = svc.reveal.check(rid, user)
        if not out.ok:
            _tell(respond, body, out.message, out.reason)
            return
        delivery = {"r": rid, "u": _text(body, "response_url")}
        if out.data.get("needs_totp"):
            client.views_open(trigger_id=body["trigger_id"], view=blocks.totp_modal(
                ids.REVEAL_VIEW, "Reveal key", f"Reveal the key for `{rid}`: enter YOUR current TOTP code. "
                "The key is created now and shown once.", delivery, submit="Reveal"))
            return
        _start_reveal(svc, rid, user, None, delivery["u"], respond=respond)

    @app.view(ids.REVEAL_VIEW)
    @_acked_first
    def on_reveal_code(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta, user = _meta(view), _user(body)
        out = _inline(ack, ids.CODE_BLOCK, lambda: svc.reveal.begin(meta.get("r", ""), user, _code(view)))
        if out is None:
            return
        ack()
        svc.deps.later(svc.reveal.run, meta.get("r", ""), Delivery(meta.get("u", ""), user),
                       out.data["passphrase"])

    @app.action(ids.WIPE)
    @acked
    def on_wipe(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        if body.get("response_url"):
            respond(delete_original=True)
        svc.inventory.record_wipe(_user(body), _value(body))

    @app.action(ids.ENROLL_CONFIRM)
    @acked
    def on_enroll_confirm(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        client.views_open(trigger_id=body["trigger_id"], view=blocks.totp_modal(
            ids.ENROLL_VIEW, "Confirm enrollment", "Enter the code your authenticator shows for kukey.",
            {"u": _text(body, "response_url")}))

    @app.view(ids.ENROLL_VIEW)
    @app.view(ids.REENROLL_NEW_VIEW)
    @_acked_first
    def on_enroll_code(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        if _inline(ack, ids.CODE_BLOCK, lambda: svc.enrollment.confirm(_user(body), _code(view))) is None:
            return
        ack(response_action="clear")
        url = _meta(view).get("u")
        if url:  # replace the ephemeral that showed the seed, so it is not left on screen
            done = "TOTP enrollment confirmed. You can approve now."
            svc.deps.later(svc.notifier.respond, url, {"replace_original": True, "text": done})

    @app.action(ids.REENROLL)
    @acked
    def on_reenroll(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        client.views_open(trigger_id=body["trigger_id"], view=blocks.totp_modal(
            ids.REENROLL_VIEW, "Re-enroll", "Enter your CURRENT code to replace your authenticator seed.",
            {"u": _text(body, "response_url")}))

    @app.view(ids.REENROLL_VIEW)
    @_acked_first
    def on_reenroll_code(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = _user(body)
        new = _inline(ack, ids.CODE_BLOCK, lambda: svc.enrollment.start(
            user, account=_text(body, "user", "username") or user, current_code=_code(view)))
        if new is None:
            return
        ack(response_action="update", view=blocks.reenroll_new_modal(new.uri.reveal(), new.seed.reveal(),
                                                                      _meta(view)))

    @app.view(ids.REVOKE_VIEW)
    @_acked_first
    def on_revoke_code(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta, user = _meta(view), _user(body)
        try:
            cmd = cmds.parse(meta.get("t", ""))
            if not isinstance(cmd, cmds.Revoke):
                raise UsageError("This form no longer describes a revoke; run `/kukey revoke` again.")
            out = svc.revoker.incident(user, meta.get("c", ""), cmd, _code(view), dedupe_key=meta.get("d"))
        except KukeyError as exc:
            _refuse(ack, ids.CODE_BLOCK, messages.for_user(exc), _why(exc))
            return
        ack()
        svc.deps.later(svc.scheduler.run_now, "revoke", out.data["request_id"])

    @app.view(ids.CREATE_VIEW)
    @_acked_first
    def on_create_form(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user, meta = _user(body), _meta(view)
        text = create_text_from_form(_dig(view, "state", "values"))
        try:
            cmd = cmds.parse(text, sub_accounts=svc.sub_accounts.known())
            if not isinstance(cmd, cmds.Create):
                raise UsageError("The form describes no key to create.")
        except UsageError as exc:
            _refuse(ack, ids.SUB_BLOCK, messages.for_user(exc)[:150], "usage")
            return
        ack()
        svc.deps.later(commands.submit_from_form, user, cmd, Origin(meta.get("c", ""),
                                                                           _text(body, "trigger_id") or None))

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

