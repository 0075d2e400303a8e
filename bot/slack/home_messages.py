"""Every sentence of kukey's Home tab (and of the lists the admins' digest shares with it). Pure functions of
plain values; the sentences of requests, forms and refusals are in bot.slack.messages."""

from __future__ import annotations

from datetime import datetime

from bot.domain.requests import STATE_LABEL, State
from bot.domain.text import noun
from bot.domain.timeutil import fmt
from bot.services.checkpoints import Checkpoint
from bot.services.home_model import KeyRow, TotpStatus
from bot.services.ports import RequestView
from bot.slack.messages import perms, title, who
from bot.slack.status import commanded_state

NO_KEYS = "You hold no key kukey created. `/kukey create` asks for one."
NO_OPEN_REQUESTS, NOTHING_TO_APPROVE = "You have no open request.", "Nothing waits for your approval."
NOT_A_HOME_KEY = "This button no longer names one key; open kukey's Home tab again."
ALREADY_ENROLLED_HOME = "You are already enrolled; *Re-enroll* on kukey's Home tab replaces your authenticator."
NONE = "None."


def home_intro(now: datetime) -> str:
    return (f"Your keys, your requests and what waits for you, as of {fmt(now)}: refreshed when you open this tab "
            "and after changes that concern you. `/kukey help` lists every command.")


def more(count: int, command: str) -> str:
    return f"and {count} more — see `{command}`"


def key_text(k: KeyRow) -> str:
    every = k.rotation_days
    rotation = "no rule covers it now" if every is None else f"rotate every {every} {noun(every, 'day')}"
    return (f"`{k.api_key}` in *{k.sub_account}* — {perms(k.permissions)}; IPs {', '.join(k.ips) or 'none'}\n"
            f"Created {fmt(k.created_at)}, expires {fmt(k.expires_at) if k.expires_at else 'never'}; "
            f"{k.age_days} {noun(k.age_days, 'day')} old ({rotation})" + (" — *due for rotation*" if k.due else "")
            + ("" if k.active else "\n_Deletion pending (replaced by a rotation)._"))


def confirm_text(verb: str, k: KeyRow) -> str:
    """What the Rotate and Revoke buttons ask before they file a request."""
    then = "you reveal the new key once, then the old one is deleted" if verb == "rotate" else "it is deleted"
    return f"File a request to {verb} `{k.api_key}` in {k.sub_account}? Another person must approve it; then {then}."


def request_brief(req: RequestView) -> str:
    """One line per request in the Home's lists."""
    if req.approvals_needed == 0:  # an incident revoke or the kill switch: commanded, nobody approves it
        return f"• `{req.id}` {title(req)} by {who(req.requester)}: {commanded_state(req)} (no approval needed)"
    when = (f", expires {fmt(req.expires_at)}" if req.state == State.PENDING
            else f", reveal by {fmt(req.reveal_deadline)}" if req.state == State.APPROVED else "")
    return (f"• `{req.id}` {title(req)} by {who(req.requester)}: {STATE_LABEL.get(State(req.state), req.state)} "
            f"({len(req.approvers)} of {req.approvals_needed} approvals{when})")


def awaiting_text(req: RequestView) -> str:
    return (f"{title(req)}  (request `{req.id}`)\n*Requester:* {who(req.requester)} · *Approvals:* "
            f"{len(req.approvers)} of {req.approvals_needed} · *Expires:* {fmt(req.expires_at)}\n"
            f"*Reason:* {req.reason or '-'}")


def totp_text(t: TotpStatus) -> str:
    text = ("You are enrolled: your authenticator's codes approve requests and reveal your keys." if t.enrolled
            else "You are not enrolled: approving and revealing need an authenticator app (TOTP). *Enroll* shows "
                 "your seed once, only to you." + (" It replaces the enrollment you did not confirm."
                                                   if t.started else ""))
    return text + (f"\nLocked out after wrong codes until {fmt(t.locked_until)}." if t.locked_until else "")


def due_line(k: KeyRow) -> str:
    return (f"• `{k.api_key}` in *{k.sub_account}*: {k.age_days} {noun(k.age_days, 'day')} old "
            f"(rule: {k.rotation_days}) — "
            f"`/kukey rotate {k.sub_account} {k.api_key}`")


def external_line(k: KeyRow) -> str:
    return (f"• `{k.api_key}` in *{k.sub_account}* ({perms(k.permissions)}), created {fmt(k.created_at)}: check who "
            "made it; revoke it in KuCoin's web UI if nobody owns it")


def checkpoint_text(c: Checkpoint | None) -> str:
    if c is None:
        return "*Last audit checkpoint:* none yet (`/kukey audit` posts one)."
    return (f"*Last audit checkpoint:* seq {c.seq}, hash `{c.hash}`, at {fmt(c.at)}. Verify the log against it: "
            f"`kukey audit verify --checkpoint {c.text}`")


ENROLL_WAIT = "Making your authenticator seed…"


def enroll_form(uri: str, seed: str) -> str:
    """The Home's Enroll form: the seed, shown once to its owner, and the code it makes."""
    return ("*TOTP enrollment* (only you can see this). Add this to your authenticator app, then enter the code it "
            f"shows. Nothing is active until you confirm.\n*otpauth URI:* `{uri}`\n*Seed (base32):* `{seed}`")
