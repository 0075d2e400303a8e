"""The Home tab as a Slack `home` view: a pure function of the read model (bot.services.home_model), built and
validated with slack_sdk's models.

Slack shows at most 100 blocks in a Home tab; `View.to_dict()` refuses more. Each list here shows its first
SHOWN items and then "and N more — see `/kukey ...`", so a Home stays under the limit whatever the numbers:
at most 2 + (1 + 2 * SHOWN + 1) + 3 + (2 + SHOWN + 1) + 3 + 9 blocks (52 with SHOWN = 10). The Rotate and
Revoke buttons ask the person to confirm (Slack's confirm dialog) before they file a request.
"""

from __future__ import annotations

from typing import Any, Final

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
)
from slack_sdk.models.views import View

from bot.services.home_model import AdminHome, Home, KeyRow
from bot.services.ports import RequestView
from bot.slack import home_messages, ids
from bot.slack.blocks import button, shorten, text_section

SHOWN: Final = 10  # items of each list shown on the tab
_LINES_MAX: Final = 2900  # a list of lines in one section: under Slack's 3000 characters


def home_view(home: Home) -> dict[str, Any]:
    blocks: list[Block] = [HeaderBlock(text="kukey"), _context(home_messages.home_intro(home.now))]
    blocks += [HeaderBlock(text="Your keys"), *_keys(home.keys)]
    blocks += [DividerBlock(), HeaderBlock(text="Your open requests"),
               lines_section([home_messages.request_brief(r) for r in home.open_requests],
                             home_messages.NO_OPEN_REQUESTS, "/kukey pending")]
    blocks += [DividerBlock(), HeaderBlock(text="Waiting for your approval"), *_to_approve(home.to_approve)]
    blocks += [DividerBlock(), HeaderBlock(text="Your authenticator (TOTP)"), _totp(home)]
    if home.admin is not None:
        blocks += _admin(home.admin)
    return View(type="home", callback_id=ids.HOME_VIEW, blocks=blocks).to_dict()


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=shorten(text, 3000))])


def _more(items: tuple[Any, ...], command: str) -> list[Block]:
    hidden = len(items) - SHOWN
    return [_context(home_messages.more(hidden, command))] if hidden > 0 else []


def _keys(keys: tuple[KeyRow, ...]) -> list[Block]:
    if not keys:
        return [text_section(home_messages.NO_KEYS)]
    blocks: list[Block] = []
    for key in keys[:SHOWN]:
        blocks.append(text_section(home_messages.key_text(key)))
        if key.active:
            blocks.append(ActionsBlock(block_id=f"key:{key.api_key}", elements=[
                _confirmed("Rotate", ids.HOME_ROTATE, key, "rotate", None),
                _confirmed("Revoke", ids.HOME_REVOKE, key, "revoke", "danger")]))
    return blocks + _more(keys, "/kukey list")


def _confirmed(label: str, action_id: str, key: KeyRow, verb: str, style: str | None) -> ButtonElement:
    """A button that files a request about `key`, after Slack asks the person to confirm it."""
    confirm = ConfirmObject(title=f"{label} this key?", text=shorten(home_messages.confirm_text(verb, key), 300),
                            confirm="File the request", deny="Cancel", style=style)
    return ButtonElement(text=label, action_id=action_id, value=f"{key.sub_account} {key.api_key}", style=style,
                         confirm=confirm)


def lines_section(lines: list[str], empty: str, command: str) -> Block:
    """A list as the lines of one section: the first SHOWN, then how many more and where to see them."""
    if not lines:
        return text_section(empty)
    shown = lines[:SHOWN] + ([home_messages.more(len(lines) - SHOWN, command)] if len(lines) > SHOWN else [])
    return text_section(shorten("\n".join(shown), _LINES_MAX))


def _to_approve(requests: tuple[RequestView, ...]) -> list[Block]:
    if not requests:
        return [text_section(home_messages.NOTHING_TO_APPROVE)]
    blocks: list[Block] = []
    for req in requests[:SHOWN]:
        blocks.append(text_section(home_messages.awaiting_text(req), block_id=f"approve:{req.id}",
                                   accessory=button("Approve", ids.APPROVE, req.id, "primary")))
    return blocks + _more(requests, "/kukey pending")


def _totp(home: Home) -> Block:
    return text_section(home_messages.totp_text(home.totp),
                        accessory=button("Re-enroll", ids.REENROLL, "reenroll") if home.totp.enrolled
                        else button("Enroll", ids.HOME_ENROLL, "enroll", "primary"))


def _admin(admin: AdminHome) -> list[Block]:
    return [DividerBlock(), HeaderBlock(text="Admin: everyone's requests and keys"),
            text_section(f"*Pending requests* ({len(admin.pending)})"),
            lines_section([home_messages.request_brief(r) for r in admin.pending], home_messages.NONE,
                          "/kukey pending"),
            text_section(f"*Keys due for rotation* ({len(admin.due)})"),
            lines_section([home_messages.due_line(k) for k in admin.due], home_messages.NONE,
                          "kukey reconcile --no-post"),
            text_section(f"*Keys kukey did not create* ({len(admin.external)})"),
            lines_section([home_messages.external_line(k) for k in admin.external], home_messages.NONE, "/kukey list"),
            text_section(home_messages.checkpoint_text(admin.checkpoint))]
