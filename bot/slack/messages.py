"""Every sentence kukey says to people, in one place. Pure functions of plain values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.domain.keys import PERMISSION_ORDER, Permission
from bot.domain.requests import STATE_LABEL, State
from bot.domain.text import noun
from bot.domain.timeutil import fmt
from bot.services.ports import RequestView


def who(user: str | None) -> str:
    return f"<@{user}>" if user and user != "kukey" else "kukey"


def perms(p: Iterable[Permission] | None) -> str:
    chosen = set(p or ())
    return ", ".join(x.value for x in PERMISSION_ORDER if x in chosen) or "General"


def expiry(days: int | None) -> str:
    return "never" if days is None else f"{days} {noun(days, 'day')}"


def title(req: RequestView) -> str:
    if req.kind == "rotate":
        return f"Rotate key `{req.target_api_key}` in *{req.sub_account}*"
    if req.kind == "revoke":
        target = "every key" if req.revoke_all else f"key `{req.target_api_key}`"
        return f"Revoke {target} in *{req.sub_account}*"
    if req.kind == "kill_switch":
        return "Kill switch: every key kukey holds, in every sub-account"
    if req.kind == "update":
        return f"Update key `{req.target_api_key}` in *{req.sub_account}*"
    return f"New API key for *{req.sub_account}*"


def summary(req: RequestView) -> str:
    lines = [
        f"{title(req)}  (request `{req.id}`)",
        f"*Requester:* {who(req.requester)}",
    ]
    if req.kind == "update":
        lines += _update_lines(req)
    elif req.kind != "revoke":
        lines += [f"*Permissions:* {perms(req.permissions)}",
                  f"*IP whitelist:* {', '.join(req.ips) or 'none'}",
                  f"*Expires after:* {expiry(req.expire_days)}"]
    if req.kind == "rotate":
        goes = (f"{req.grace_minutes} min after the reveal" if req.grace_minutes
                else "right after the new key is revealed")
        lines.append(f"*Old key goes:* {goes}")
    lines += [f"*Reason:* {req.reason or '-'}",
              f"*Approvals:* {len(req.approvers)} of {req.approvals_needed}"
              + (f" ({', '.join(who(a) for a in req.approvers)})" if req.approvers else ""),
              f"*Status:* {STATE_LABEL.get(State(req.state), req.state)}"]
    if req.state == State.PENDING:
        lines.append(f"*Request expires:* {fmt(req.expires_at)}")
    if req.resolved_by and req.state in (State.DENIED, State.CANCELLED):
        lines.append(f"*Decided by:* {who(req.resolved_by)} at {fmt(req.resolved_at)}"
                     + (f": {req.resolution_note}" if req.resolution_note else ""))
    if req.new_api_key:
        lines.append(f"*New key:* `{req.new_api_key}`")
    return "\n".join(lines)


def _update_lines(req: RequestView) -> list[str]:
    """An update's new settings, with the key's current ones while it waits for approval."""
    lines = [f"*New permissions:* {perms(req.permissions)}", f"*New IP whitelist:* {', '.join(req.ips) or 'none'}"]
    if req.key_permissions is not None:
        lines.append(f"*Now:* {perms(req.key_permissions)}; IPs {', '.join(req.key_ips or ()) or 'none'}")
    return [*lines, "The secret does not change; nothing is revealed."]


def _updated(req: RequestView) -> str:
    return (f"Key `{req.target_api_key}` was updated at KuCoin: permissions {perms(req.granted_permissions)}, "
            f"IP whitelist {', '.join(req.ips) or 'none'}. Its secret did not change.")


def _less_granted(req: RequestView) -> str | None:
    """To the requester, when KuCoin granted less than the request asked for (a create's or an update's)."""
    granted = req.granted_permissions
    if granted is None or granted == req.permissions:
        return None
    return f"Note: KuCoin granted {perms(granted)}, not everything you asked for ({perms(req.permissions)})."


def event_thread(name: str, req: RequestView, f: dict[str, Any]) -> str | None:
    """The thread note for an event (None: no note)."""
    user = who(f.get("user"))
    granted = perms(req.granted_permissions)
    texts: dict[str, str | None] = {
        "submitted": None,
        "approval_added": f"{user} approved ({len(req.approvers)} of {req.approvals_needed}).",
        "approved": f"{user} approved. Updating the key at KuCoin." if req.kind == "update"
        else f"{user} approved. Waiting for {who(req.requester)} to reveal the key "
             f"(until {fmt(req.reveal_deadline)}).",
        "denied": f"Denied by {user} at {fmt(req.resolved_at)}: {req.resolution_note or 'no reason given'}.",
        "expired": f"Expired at {fmt(req.resolved_at)}: nobody approved in time.",
        "cancelled": f"Cancelled by {user} at {fmt(req.resolved_at)}.",
        "lapsed": f"The approval lapsed at {fmt(req.resolved_at)}: the key was not revealed in time. "
                  "Nothing was left at KuCoin.",
        "locked_out": f"{user} entered too many wrong codes and is locked out for a while.",
        "revealed": f"Key `{req.new_api_key}` was created and shown to {who(req.requester)} "
                    f"with permissions {granted}.",
        "reveal_failed": f"The reveal did not complete: {f.get('why')}. No key is left at KuCoin"
                         + ("." if f.get("final") else "; the requester can try again."),
        "old_key_scheduled": f"Old key `{req.target_api_key}` will be deleted at {f.get('when')}; "
                             f"new key `{req.new_api_key}`.",
        "old_key_deleted": f"Old key `{req.target_api_key}` was deleted at KuCoin. Rotation done "
                           f"(new key `{req.new_api_key}`).",
        "old_key_delete_failed": f"Deleting old key `{req.target_api_key}` failed ({f.get('error')}); "
                                 "kukey will retry.",
        "revoked": revoke_text(req, f),
        "updated": _updated(req),
        "update_failed": f"The update did not complete: {f.get('why')}. kukey's record of the key is unchanged.",
    }
    return texts.get(name)


def revoke_text(req: RequestView, f: dict[str, Any]) -> str:
    deleted = f.get("deleted") or []
    failed = f.get("failed") or []
    unmanaged = f.get("unmanaged") or []
    head = ":rotating_light: Incident revoke" if req.incident else "Revoke"
    named = f": {', '.join(f'`{k}`' for k in deleted)}" if deleted else ""
    parts = [f"{head} in *{req.sub_account}* by {who(req.requester)} (request `{req.id}`): "
             f"{len(deleted)} {noun(len(deleted), 'key')} deleted{named}"]
    if failed:
        parts.append(f"Failed, retrying: {', '.join(f'`{k}`' for k in failed)}")
    if unmanaged:
        them = "it" if len(unmanaged) == 1 else "them"
        parts.append(f"Not created by kukey, so it holds no passphrase for {them}: "
                     + ", ".join(f"`{k}`" for k in unmanaged)
                     + f". Delete {them} in KuCoin's web UI (API Management of the sub-account).")
    if req.reason:
        parts.append(f"Reason: {req.reason}")
    return "\n".join(parts)


def event_requester(name: str, req: RequestView, f: dict[str, Any]) -> str | None:
    """What the requester is told privately about an event (None: nothing)."""
    user = who(f.get("user"))
    texts: dict[str, str | None] = {
        "approval_added": f"{user} approved your request `{req.id}` "
                          f"({len(req.approvers)} of {req.approvals_needed}).",
        "denied": f"Your request `{req.id}` was denied by {user} at {fmt(req.resolved_at)}: "
                  f"{req.resolution_note or 'no reason given'}.",
        "expired": f"Your request `{req.id}` expired at {fmt(req.resolved_at)}: nobody approved it in time.",
        "cancelled": f"Request `{req.id}` was cancelled by {user}.",
        "lapsed": f"The approval of `{req.id}` lapsed: the key was not revealed in time. Ask again if you "
                  "still need it.",
        "reveal_failed": f"The key for `{req.id}` could not be shown: {f.get('why')}. No key was left at "
                         "KuCoin." + ("" if f.get("final") else " Click *Reveal key* again to retry."),
        "revealed": _less_granted(req),
        "revoked": revoke_text(req, f) if not req.incident else None,
        "not_posted": f"Your request `{req.id}` could not be posted to <#{f.get('channel')}> for approval "
                      f"(Slack kept refusing: {f.get('error')}), so nobody could see it; it was cancelled. Run "
                      "the command again in a few minutes; if it fails again, tell a kukey admin.",
        "updated": " ".join(filter(None, [f"Your request `{req.id}` is done.", _updated(req), _less_granted(req)])),
        "update_failed": f"Your update `{req.id}` failed: {f.get('why')}. kukey's record of the key is unchanged.",
        "reveal_checking": f"KuCoin did not confirm the key for `{req.id}`. kukey is checking whether it was "
                           "created (and will delete it if so); you will be told when you can try again.",
    }
    return texts.get(name)


def approved_offer(req: RequestView, approver: str | None) -> str:
    return (f"Your request `{req.id}` was approved by {who(approver)}. Click *Reveal key* to create it and see "
            f"the secret once (until {fmt(req.reveal_deadline)}).")


def recorded(request_id: str, approvals_channel: str) -> str:
    """What the requester is told at once: the request is on record, its post to the approvals channel is on
    its way (they are told again, with the link, once it is there)."""
    return f"Recorded as `{request_id}`; posting it to <#{approvals_channel}> (the link follows)."


_OPS = {"post": "a message to a channel", "reply": "a note in a request's thread",
        "update": "an update of a request's post", "private": "a private note to a person",
        "update_direct": "an update of the approvers' direct messages about a request"}


def given_up(op: str, error: str, request_id: str | None, *, cancelled: bool) -> str:
    """To the admins: kukey stopped trying to deliver a message (it is in the audit log as message.given_up)."""
    about = f" about request `{request_id}`" if request_id else ""
    consequence = (" Nobody could see the request, so it was cancelled and its requester told."
                   if cancelled else "")
    return (f"kukey gave up delivering {_OPS.get(op, op)}{about}: Slack kept refusing it ({error}).{consequence} "
            "See `kukey audit tail` (message.given_up) and kukey's log for details.")


def submitted(req: RequestView, link: str) -> str:
    needed = f"{req.approvals_needed} {noun(req.approvals_needed, 'approval')}"
    return (f"Request `{req.id}` was posted for approval ({needed} needed): {link}\n"
            f"It expires at {fmt(req.expires_at)}. `/kukey cancel {req.id}` withdraws it.")


def secret_text(req: RequestView, api_key: str, secret: str, passphrase: str, permissions: list[str]) -> str:
    return (f"*Your new KuCoin API key* (request `{req.id}`, sub-account *{req.sub_account}*). "
            "It is shown ONCE: store it in your password manager now, then click *Stored it - wipe*.\n"
            f"*API key:* `{api_key}`\n*Secret:* `{secret}`\n*Passphrase:* `{passphrase}`\n"
            f"*Permissions:* {', '.join(permissions)}")


INTERNAL = "Something went wrong on kukey's side; nothing was changed. The error was logged."

# --- forms and their intros ------------------------------------------------------------------------------
ENROLL_CODE = "Enter the code your authenticator shows for kukey."
REENROLL_CODE = "Enter your CURRENT code to replace your authenticator seed."
REENROLL_OFFER = ("You are already enrolled. Re-enrolling replaces your authenticator seed and needs your "
                  "current code.")
ALREADY_ENROLLED = "You are already enrolled."
ENROLLMENT = "TOTP enrollment"
ENROLLED = "TOTP enrollment confirmed. You can approve now."


def approve_intro(request_id: str) -> str:
    return f"Approve request `{request_id}`: enter your current TOTP code."


def reveal_intro(request_id: str) -> str:
    return (f"Reveal the key for `{request_id}`: enter YOUR current TOTP code. The key is created now and "
            "shown once.")


def deny_intro(request_id: str) -> str:
    return f"Deny request `{request_id}`. The requester sees your reason."


def revoke_intro(sub_account: str, api_key: str | None) -> str:
    return (f"Break-glass revoke in `{sub_account}` ({api_key or 'every key'}). Enter YOUR current TOTP "
            "code.")


def enroll_intro(uri: str, seed: str) -> str:
    return ("*TOTP enrollment* (only you can see this). Add this to your authenticator app, then click "
            "*Confirm code* and enter the code it shows. Nothing is active until you confirm.\n"
            f"*otpauth URI:* `{uri}`\n*Seed (base32):* `{seed}`")


def new_seed(uri: str, seed: str) -> str:
    return ("Add this new seed to your authenticator, then enter the code it shows.\n"
            f"*otpauth URI:* `{uri}`\n*Seed (base32):* `{seed}`")


def usage_error(message: str, usage: str) -> str:
    return message + (f"\nUsage: `{usage}`" if usage else "")


# --- when Slack would not take kukey's answer after the ack -----------------------------------------------
def again(button: str | None, command: str | None) -> str:
    """What to do to try once more: click the same button, or type the command again."""
    if button:
        return f"click *{button}* again"
    if command:
        return f"run `{command}` again"
    return "try again"


def form_not_opened(error: str, retry: str) -> str:
    """views.open came too late for the click's trigger_id, or the trigger_id was used already."""
    if error == "expired_trigger_id":
        return f"Slack did not let kukey open the form in time; {retry}."
    return f"Slack did not let kukey open the form for this click (it was used already); {retry}."


def form_refused(retry: str) -> str:
    """Slack (or slack_sdk's checks before sending) refused the form kukey built."""
    return f"Slack refused the form kukey built, so nothing was done; {retry}. If it happens again, tell a " \
           "kukey admin."


NO_KEY_IN_FORM = "The form describes no key to create."
NOT_A_REVOKE_FORM = "This form no longer describes a revoke; run `/kukey revoke` again."


def checkpoint_posted(checkpoint: str) -> str:
    return f"Checkpoint posted to the audit channel: `{checkpoint}`"


def revealed_offer(request_id: str) -> str:
    """What the spent Reveal offer says once the key was shown."""
    return f"Key for `{request_id}` revealed (shown once, below)."


NOT_WIPED = ("kukey could not remove the message with your key: Slack no longer lets it change that message. "
             "Reload Slack (Ctrl+R or Cmd+R) to clear it from your screen.")
SEED_LEFT = ENROLLED + " Reload Slack (Ctrl+R or Cmd+R) to clear the message that showed your seed."


def for_user(exc: Exception) -> str:
    """The one place a typed failure becomes a sentence for the person who acted."""
    from bot.errors import (
        AuditWriteError,
        ExchangeOutcomeUnknown,
        ExchangeUnavailable,
        KucoinRateLimited,
        StorageError,
    )

    if isinstance(exc, AuditWriteError):
        return ("kukey could not write its audit log, so nothing was done (fail closed). "
                "Please tell a kukey admin.")
    if isinstance(exc, StorageError):
        return "kukey's database refused the change, so nothing was done. Please try again."
    if isinstance(exc, KucoinRateLimited):
        return f"KuCoin is busy (rate limited); try again in {max(1, round(exc.retry_after))} s."
    if isinstance(exc, ExchangeUnavailable | ExchangeOutcomeUnknown):
        return "KuCoin is not answering right now; nothing was lost. Please try again in a minute."
    return str(exc)
