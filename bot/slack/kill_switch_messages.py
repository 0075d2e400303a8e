"""What the kill switch (`/kukey revoke everything`) says: its form, its progress message, its report.
Pure functions of plain values, beside bot.slack.messages (which holds every other sentence).

The progress message is the kill switch's own post in the incident channel, edited as the deletes land;
the report (every key and its outcome, then the keys out of kukey's reach) goes into its thread, in as
many replies as Slack's message length needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

from bot.domain.text import noun
from bot.services.ports import RequestView

REPLY_MAX: Final = 3500  # characters per reply of the report (Slack shows up to 4000 in a message)
FAILED_SHOWN: Final = 10  # failures named in the progress message (the report names them all)
OUTCOME: Final = {"deleted": ":white_check_mark: deleted", "failed": ":x: failed", "pending": ":hourglass: not tried"}
WEB_UI: Final = ("kukey holds no passphrase for these keys, so it cannot delete them. In KuCoin's web UI, "
                 "sign in as the master account, open *Sub-Account*, pick the sub-account, open its *API "
                 "Management* and delete each key listed (no passphrase is needed there).")


def intro(count: int) -> str:
    return (f":rotating_light: *Kill switch*: delete *every* key kukey holds, in every sub-account: *{count}* "
            f"{noun(count, 'key')}. Keys kukey did not create stay (they are listed at the end).\n"
            f"Type *{count}* below to confirm, and YOUR current TOTP code.")


def _time_left(seconds: float) -> str:
    if seconds < 1:
        return "a few seconds"
    if seconds < 90:
        return f"about {math.ceil(seconds)} s"
    return f"about {math.ceil(seconds / 60)} min"


def progress(req: RequestView, p: dict[str, Any]) -> str:
    """The progress message: n of N deleted, the failures named, the time left (from the rate pool)."""
    total, deleted, failed = int(p["total"]), int(p["deleted"]), list(p.get("failed") or [])
    head = ":rotating_light: *Kill switch*" + (" done" if p.get("done") else " running")
    lines = [f"{head}: `{req.id}`, pulled by <@{req.requester}>",
             deleted_of(deleted, total, len(failed))]
    if failed:
        lines.append(failed_line(failed))
    if p.get("done"):
        lines.append("Every key's outcome is in the thread." + (
            " kukey keeps retrying the failed ones every minute." if failed else ""))
    else:
        lines.append(f"Time left: {_time_left(float(p.get('seconds_left') or 0))} "
                     "(KuCoin's Management rate pool sets the pace)")
    if req.reason:
        lines.append(f"Reason: {req.reason}")
    return "\n".join(lines)


def deleted_of(deleted: int, total: int, failed: int) -> str:
    """n of N keys deleted, and how many failed (the progress message's and `/kukey status`'s line)."""
    return f"*{deleted} of {total}* {noun(total, 'key')} deleted" + (f", *{failed} failed*" if failed else "")


def failed_line(failed: Sequence[Sequence[str]]) -> str:
    """The failed keys (sub-account, apiKey, why), the first FAILED_SHOWN of them named."""
    named = ", ".join(f"`{key}` ({sub}: {error})" for sub, key, error in failed[:FAILED_SHOWN])
    more = f" and {len(failed) - FAILED_SHOWN} more" if len(failed) > FAILED_SHOWN else ""
    return f"Failed: {named}{more}"


def report(keys: Sequence[Sequence[str]]) -> list[str]:
    """Every key and its outcome, by sub-account, in replies of at most REPLY_MAX characters."""
    lines = [f"`{sub}` `{key}`: {OUTCOME.get(outcome, outcome)}" + (f" ({error})" if error else "")
             for sub, key, outcome, error in keys]
    return _chunks("*Every key of the kill switch*", lines or ["(kukey held no keys)"])


def out_of_reach(keys: Sequence[Sequence[str]]) -> list[str]:
    """The keys kukey knows of but cannot delete, with what to do in KuCoin's web UI."""
    if not keys:
        return ["*Out of kukey's reach*: none that kukey knows of (reconciliation lists keys made outside "
                "kukey; run `kukey reconcile` to look again)."]
    lines = [f"`{sub}` `{key}`" for sub, key in keys]
    return _chunks(f"*Out of kukey's reach* ({len(keys)}): {WEB_UI}", lines)


def announcement(req: RequestView, p: dict[str, Any]) -> str:
    failed = len(p.get("failed") or [])
    return (f":rotating_light: Kill switch `{req.id}` by <@{req.requester}> in <#{req.origin_channel}>: "
            f"{p['deleted']} of {p['total']} {noun(int(p['total']), 'key')} deleted"
            + (f", {failed} failed." if failed else "."))


def _chunks(head: str, lines: list[str]) -> list[str]:
    out, current = [], head
    for line in lines:
        if len(current) + 1 + len(line) > REPLY_MAX:
            out.append(current)
            current = "(continued)"
        current += "\n" + line
    return [*out, current]
