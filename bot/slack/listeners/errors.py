"""Typed failures become what the person sees, in one place, before and after the ack.

    on_error     Bolt's error handler (`app.error`): a listener's ack function raised, so the ack is
                 built here: a command gets its one line (a usage error with the right form), a modal
                 keeps open with the message under the input it concerns.
    reported     wraps a lazy listener (the work after the ack): Bolt only logs what those raise, so
                 here a failure is logged once and the person is told what happened and what to do next.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, BoltResponse
from slack_sdk.errors import SlackObjectFormationError

from bot.errors import KukeyError, Refused, SlackApiError, UsageError
from bot.services.ports import Outcome
from bot.slack import ids, messages, payload, replies

if TYPE_CHECKING:
    from bot.services.registry import Services

log = logging.getLogger("kukey.slack")
# Slack's errors for a trigger_id that came too late, twice, or not from Slack
_TRIGGER_ERRORS = frozenset({"expired_trigger_id", "exchanged_trigger_id", "invalid_trigger_id"})
# Under which input of each modal a refusal is shown (InvalidInput names its own)
_ERROR_BLOCK = {ids.APPROVE_VIEW: ids.CODE_BLOCK, ids.DENY_VIEW: ids.REASON_BLOCK, ids.REVEAL_VIEW: ids.CODE_BLOCK,
                ids.ENROLL_VIEW: ids.CODE_BLOCK, ids.REENROLL_VIEW: ids.CODE_BLOCK,
                ids.REENROLL_NEW_VIEW: ids.CODE_BLOCK, ids.REVOKE_VIEW: ids.CODE_BLOCK,
                ids.KILL_SWITCH_VIEW: ids.CODE_BLOCK, ids.CREATE_VIEW: ids.SUB_BLOCK}


def accepted(out: Outcome) -> Outcome:
    """A service's outcome when it is ok; a refusal raises, for `on_error` to show."""
    if not out.ok:
        raise Refused(out.message, reason=out.reason)
    return out


def on_error(error: Exception, body: dict[str, Any], ack: Ack | None) -> BoltResponse | None:
    """Bolt's error handler for the ack functions; returns the ack to send (None: Bolt's 500)."""
    if ack is None:
        log.exception("request failed before any listener", exc_info=error)
        return None
    if ack.response is not None:  # acked, then failed: the ack stands
        _log_failure(error, "request failed after its ack")
        return ack.response
    if "command" in body and "type" not in body:
        return ack(text=_command_answer(error, body))
    block = getattr(error, "block", None) or _ERROR_BLOCK.get(payload.text(body, "view", "callback_id"))
    if body.get("type") != "view_submission" or block is None:
        _log_failure(error, "request failed")
        return None
    if isinstance(error, KukeyError):  # a refusal, not a failure: the modal stays open with the reason
        log.info("interaction refused", extra={"reason": getattr(error, "reason", "") or type(error).__name__})
    else:
        _log_failure(error, "request failed")
    return ack(response_action="errors", errors={block: sentence(error, body)})


def _command_answer(error: Exception, body: dict[str, Any]) -> str:
    if isinstance(error, UsageError):
        # A typo is not a security event: one log line (never the text: it may hold a pasted secret),
        # no audit event, so nobody can flood the audit log with garbage. Policy refusals are audited.
        log.info("command rejected", extra={"chars": len(payload.text(body, "text"))})
        return messages.usage_error(str(error), error.usage)
    _log_failure(error, "command failed")
    return sentence(error, body)


def reported(work: Callable[..., None], svc: Services) -> Callable[..., None]:
    """`work` (a lazy listener taking `body`, and `svc` by keyword) as Bolt runs it: with its failures
    logged once and told to the person who acted."""

    @functools.wraps(work)
    def run(**kwargs: Any) -> None:
        try:
            work(**kwargs, svc=svc)
        except Exception as exc:  # the last stop after the ack: Bolt would only log it
            body = kwargs.get("body")
            _log_failure(exc, "request failed after its ack")
            if isinstance(body, dict):
                replies.reply(svc, body, sentence(exc, body))

    return run


def sentence(exc: Exception, body: dict[str, Any]) -> str:
    """What the person is told about `exc`, with what to do next."""
    retry = messages.again(payload.button(body), payload.command_words(body))
    if isinstance(exc, SlackApiError) and exc.method in ("views.open", "views.update"):
        if exc.error in _TRIGGER_ERRORS:
            return messages.form_not_opened(exc.error, retry)
        return messages.form_refused(retry)
    if isinstance(exc, SlackObjectFormationError):
        return messages.form_refused(retry)
    if isinstance(exc, KukeyError):
        return messages.for_user(exc)
    return messages.INTERNAL


def _log_failure(exc: Exception, what: str) -> None:
    if isinstance(exc, KukeyError):
        log.warning(what, extra={"error": type(exc).__name__, "detail": str(exc)})
    elif isinstance(exc, SlackObjectFormationError):
        log.error(what, extra={"error": type(exc).__name__, "detail": str(exc)})
    else:
        log.exception(what, exc_info=exc)
