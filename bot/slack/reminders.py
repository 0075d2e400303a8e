"""The key reminders and the admins' weekly digest as Slack messages: their sentences and Block Kit.

A reminder's Rotate button carries "<sub-account> <apiKey>" and asks the person to confirm (Slack's confirm
dialog), like the Home's; its click files what `/kukey rotate <sub-account> <apiKey>` files. The digest's
lists are cut like the Home's (bot.slack.home_view.lines_section): the first few, then how many more and
where to see them all.
"""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ConfirmObject, HeaderBlock

from bot.domain.reminders import KeyReminder, Reason
from bot.domain.text import noun
from bot.domain.timeutil import fmt
from bot.services.digest import Digest
from bot.services.home_model import KeyRow
from bot.slack import home_messages, ids
from bot.slack.blocks import Blocks, message, text_section
from bot.slack.home_view import lines_section


def reminder_text(r: KeyReminder) -> str:
    key = f"Your key `{r.api_key}` in *{r.sub_account}*"
    if r.reason == Reason.EXPIRY:
        why = (f"{key} expires in {r.days_left} {noun(r.days_left, 'day')} ({fmt(r.expires_at)}) and stops "
               "working then.")
    else:
        why = (f"{key} is {r.age_days} {noun(r.age_days, 'day')} old: the policy wants keys of "
               f"*{r.sub_account}* rotated every {r.rotation_days} {noun(r.rotation_days, 'day')}.")
    return (f"{why} Rotate files `/kukey rotate {r.sub_account} {r.api_key}`: once approved, you reveal a new "
            "key with the same permissions, IPs and expiry, then the old one is deleted.")


def reminder_blocks(r: KeyReminder) -> Blocks:
    confirm = ConfirmObject(title="Rotate this key?", text=f"File a request to rotate `{r.api_key}` in "
                                                           f"{r.sub_account}? Another person must approve it.",
                            confirm="File the request", deny="Cancel")
    rotate = ButtonElement(text="Rotate", action_id=ids.REMINDER_ROTATE, value=f"{r.sub_account} {r.api_key}",
                           style="primary", confirm=confirm)
    return message(text_section(reminder_text(r)), ActionsBlock(block_id=f"remind:{r.api_key}", elements=[rotate]))


def digest_text(d: Digest) -> str:
    """The notification's text: the counts (the blocks hold the lists)."""
    return (f"kukey weekly digest: due for rotation {len(d.due)}, expiring soon {len(d.expiring)}, "
            f"pending requests {len(d.pending)}, not created by kukey {len(d.external)}")


def digest_blocks(d: Digest) -> Blocks:
    blocks: list[Block] = [HeaderBlock(text="kukey weekly digest")]
    lists = [("Keys due for rotation", [home_messages.due_line(k) for k in d.due], "kukey reconcile --no-post"),
             ("Keys expiring soon", [expiring_line(k, d.now) for k in d.expiring], "/kukey list"),
             ("Pending requests", [home_messages.request_brief(r) for r in d.pending], "/kukey pending"),
             ("Keys kukey did not create", [home_messages.external_line(k) for k in d.external], "/kukey list")]
    for heading, lines, command in lists:
        blocks += [text_section(f"*{heading}* ({len(lines)})"), lines_section(lines, home_messages.NONE, command)]
    return message(*blocks)


def expiring_line(k: KeyRow, now: datetime) -> str:
    verb = "expired" if k.expires_at is not None and k.expires_at <= now else "expires"
    return (f"• `{k.api_key}` in *{k.sub_account}* {verb} {fmt(k.expires_at)} — "
            f"`/kukey rotate {k.sub_account} {k.api_key}`")
