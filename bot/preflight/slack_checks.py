"""The Slack checks: the bot token, the app token or signing secret, Slack's clock, the policy's channels
and user groups.

Channels: kukey posts requests, announcements and checkpoints in them and answers in their threads, and
its bot scopes (chat:write, without chat:write.public) let it post only where it is a member. So a channel
the bot is not in is a FAIL, public or private (a private one is not even visible before the invite).
Checking membership needs channels:read and groups:read (conversations.info); an app installed without
them gets a WARN per channel, because kukey itself runs without them.

User groups: one Slack does not know is a FAIL (a typo in the policy). An empty one is a WARN: membership
changes while kukey runs and kukey resolves it at each decision, so an on-call group empty between
shifts must not stop kukey from starting.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import timedelta

from bot.domain.policy import Policy
from bot.policy_file.shapes import GROUP_ID
from bot.preflight.context import Context
from bot.preflight.results import CheckResult, fail, ok, skew_result, skip, warn
from bot.preflight.slack_web import SlackAnswer, SlackUnreachable, SlackWebApi

BOT_AUTH_FIX = ("set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-...) on the app's Install App page; "
                 "reinstall the app if the token was revoked")
APP_AUTH_FIX = ("set SLACK_APP_TOKEN to an app-level token (xapp-...) with connections:write (Basic Information "
                 "> App-Level Tokens) and turn Socket Mode on; or run in HTTP mode (`--http`)")
SIGNING_FIX = "set SLACK_SIGNING_SECRET to the Signing Secret on the app's Basic Information page"
SCOPES_FIX = ("add the bot scopes channels:read and groups:read (app_manifest.yml lists them) and reinstall "
              "the app, so kukey can check its channels")
# The bot scopes kukey cannot work without, and those it works without, less well (app_manifest.yml has all).
NEEDED_SCOPES = {"chat:write": "post and update messages", "commands": "receive /kukey",
                 "im:write": "send direct messages", "usergroups:read": "resolve the policy's user groups"}
HELPFUL_SCOPES = {"channels:read": "check its channels", "groups:read": "check its private channels",
                  "channels:history": "find a post whose answer Slack lost instead of posting it twice",
                  "groups:history": "the same in private channels",
                  "im:history": "find a direct message whose answer Slack lost instead of sending it twice"}
REINSTALL_FIX = "add the missing bot scopes (app_manifest.yml lists them all) and reinstall the app"
_SIGNING_SECRET = re.compile(r"[0-9a-fA-F]{32}")
_DATE_RESOLUTION = timedelta(seconds=1)  # an HTTP Date header counts whole seconds


def check_bot_token(ctx: Context) -> CheckResult:
    name = "slack bot token"
    try:
        answer = ctx.bot_answer()
    except SlackUnreachable as exc:
        ctx.unreachable.add("slack")
        return fail(name, str(exc), exc.fix)
    if not answer.ok:
        return fail(name, f"auth.test refused the bot token: {answer.error}", BOT_AUTH_FIX)
    d = answer.data
    return ok(name, f"bot {d.get('user')} (user id {d.get('user_id')}) in workspace {d.get('team')} "
                    f"({d.get('team_id')})")


def check_app_token(ctx: Context) -> CheckResult:
    """Socket Mode: apps.connections.open issues a WebSocket URL; the preflight does not connect to it."""
    name = "slack app token"
    if "slack" in ctx.unreachable or ctx.config.reported_elsewhere(("SLACK_API_URL",)) is None:
        return skip(name, "needs an answer from Slack (see slack bot token)")
    settings = ctx.config.settings(("SLACK_API_URL", "SLACK_APP_TOKEN"))
    token = settings.slack_app_token.reveal()
    if not token:
        return fail(name, "SLACK_APP_TOKEN is not set (Socket Mode needs it)", APP_AUTH_FIX)
    try:
        answer = ctx.slack(settings).api_call("apps.connections.open", token)
    except SlackUnreachable as exc:
        return fail(name, str(exc), exc.fix)
    if not answer.ok:
        return fail(name, f"apps.connections.open refused the app token: {answer.error}", APP_AUTH_FIX)
    return ok(name, "apps.connections.open issued a Socket Mode URL (not connected to it)")


def check_signing_secret(ctx: Context) -> CheckResult:
    """HTTP mode: only the secret's presence and shape can be checked; Slack has no call that proves it."""
    name = "slack signing secret"
    secret = ctx.config.settings(("SLACK_SIGNING_SECRET",)).slack_signing_secret.reveal()
    if not secret:
        return fail(name, "SLACK_SIGNING_SECRET is not set (HTTP mode needs it)", SIGNING_FIX)
    if not _SIGNING_SECRET.fullmatch(secret):
        return fail(name, f"it is {len(secret)} characters, not the 32 hexadecimal digits of a Slack signing "
                          "secret (the Verification Token is not it)", SIGNING_FIX)
    return ok(name, "set, 32 hexadecimal digits; Slack cannot check it from here: a wrong one shows as 401 "
                    "answers and 'invalid signature' log lines")


def check_slack_clock(ctx: Context) -> CheckResult:
    """The host's clock against the Date header of Slack's auth.test answer (whole seconds)."""
    name = "slack clock"
    answer = ctx.bot_answer.get()
    if answer is None:
        return skip(name, "needs an answer from Slack (see slack bot token)")
    if answer.date is None:
        return skip(name, "Slack's answer had no Date header")
    round_trip = answer.received - answer.sent
    offset = answer.date + _DATE_RESOLUTION / 2 - (answer.sent + round_trip / 2)
    uncertainty = _DATE_RESOLUTION / 2 + round_trip / 2
    return skew_result(name, offset.total_seconds(), uncertainty.total_seconds(), "Slack")


def check_bot_scopes(ctx: Context) -> CheckResult:
    """The bot token's scopes (Slack names them in the X-OAuth-Scopes header of auth.test's answer) against
    the ones kukey uses: a missing needed one is a FAIL, a missing helpful one a WARN saying what is lost."""
    name = "slack scopes"
    answer = ctx.bot_answer.get()
    if answer is None or not answer.ok:
        return skip(name, "needs a working bot token (see slack bot token)")
    if answer.scopes is None:
        return skip(name, "Slack's answer did not name the token's scopes (no X-OAuth-Scopes header)")
    needed = [f"{s} (to {why})" for s, why in NEEDED_SCOPES.items() if s not in answer.scopes]
    if needed:
        return fail(name, "the bot token lacks " + ", ".join(needed), REINSTALL_FIX)
    helpful = [f"{s} (to {why})" for s, why in HELPFUL_SCOPES.items() if s not in answer.scopes]
    if helpful:
        return warn(name, "kukey works, less well: the bot token lacks " + ", ".join(helpful), REINSTALL_FIX)
    return ok(name, f"the bot token has every scope kukey uses ({len(NEEDED_SCOPES) + len(HELPFUL_SCOPES)})")


def _policy_and_slack(ctx: Context, check: str) -> tuple[Policy, SlackWebApi, str] | CheckResult:
    """What the channel and user-group checks need: the policy, and Slack with a bot token it accepted
    (or the SKIP saying which of them failed)."""
    policy, answer = ctx.policy.get(), ctx.bot_answer.get()
    if policy is None:
        return skip(check, "needs a valid policy (see policy)")
    if answer is None or not answer.ok:
        return skip(check, "needs a working bot token (see slack bot token)")
    return policy, ctx.slack(ctx.config.settings(("SLACK_API_URL",))), ctx.bot_token()


def check_channels(ctx: Context) -> list[CheckResult]:
    """Each channel the policy names exists, is not archived, and has the bot as a member."""
    needs = _policy_and_slack(ctx, "channels")
    if isinstance(needs, CheckResult):
        return [needs]
    policy, api, token = needs
    return [_channel(api, token, channel, roles) for channel, roles in channel_roles(policy).items()]


def channel_roles(policy: Policy) -> dict[str, list[str]]:
    """Each channel id the policy names, with what it is for (a channel may serve several roles)."""
    roles: dict[str, list[str]] = defaultdict(list)
    roles[policy.approvals_channel].append("approvals")
    for channel in policy.incident_channels:
        roles[channel].append("incident")
    if policy.audit_channel:
        roles[policy.audit_channel].append("audit")
    return dict(roles)


def _channel(api: SlackWebApi, token: str, channel: str, roles: list[str]) -> CheckResult:
    name, role = f"channel {channel}", " and ".join(roles) + " channel"
    try:
        answer = api.api_call("conversations.info", token, channel=channel)
    except SlackUnreachable as exc:
        return fail(name, f"{role}: {exc}", exc.fix)
    if answer.error == "missing_scope":
        return warn(name, f"{role}: not checked: the app lacks the {answer.data.get('needed') or 'channels:read'} "
                          "scope", SCOPES_FIX)
    if answer.error == "channel_not_found":
        return fail(name, f"{role}: Slack finds no such channel (or it is private and the bot is not in it)",
                    "put the channel's id (channel details > About, at the bottom) in the policy, and for a "
                    "private channel /invite @kukey into it")
    if not answer.ok:
        return fail(name, f"{role}: conversations.info failed: {answer.error}", "try again; if it persists, "
                                                                                 "check status.slack.com")
    info = answer.data.get("channel") or {}
    label = f"{role} #{info.get('name', '?')}"
    if info.get("is_archived"):
        return fail(name, f"{label} is archived", "unarchive it, or name another channel in the policy")
    if not info.get("is_member"):
        return fail(name, f"{label}: the bot is not a member",
                    f"/invite @kukey in #{info.get('name', '?')}: kukey posts and answers threads there, and "
                    "its chat:write scope lets a bot post only in channels it is a member of")
    return ok(name, f"{label}: the bot is a member" + (" (private channel)" if info.get("is_private") else ""))


def check_user_groups(ctx: Context) -> list[CheckResult]:
    """Each user group (S...) the policy names resolves with usergroups.users.list and has members."""
    needs = _policy_and_slack(ctx, "user groups")
    if isinstance(needs, CheckResult):
        return [needs]
    policy, api, token = needs
    groups = group_references(policy)
    if not groups:
        return [ok("user groups", "the policy names no user group (S...), only people")]
    return [_group(api, token, group, ", ".join(where)) for group, where in groups.items()]


def group_references(policy: Policy) -> dict[str, list[str]]:
    """Each user-group id in the policy, with the policy keys that name it."""
    found: dict[str, list[str]] = defaultdict(list)
    for group, ids in policy.groups.items():
        for ref in ids:
            if GROUP_ID.fullmatch(ref):
                found[ref].append(f"groups.{group}")
    for rule in policy.rules:
        if rule.approver_group not in policy.groups:  # an inline list of approvers
            for ref in rule.approver_ids:
                if GROUP_ID.fullmatch(ref):
                    found[ref].append(f"{rule.key}.approver_group")
    return dict(found)


def _group(api: SlackWebApi, token: str, group: str, where: str) -> CheckResult:
    name = f"user group {group}"
    try:
        answer: SlackAnswer = api.api_call("usergroups.users.list", token, usergroup=group)
    except SlackUnreachable as exc:
        return fail(name, f"{where}: {exc}", exc.fix)
    if answer.error == "no_such_subteam":
        return fail(name, f"{where}: Slack knows no such user group",
                    f"put the user group's id (S...) in {where}, or remove it")
    if answer.error == "missing_scope":
        return fail(name, f"{where}: the app lacks the usergroups:read scope kukey needs to resolve groups",
                    "add the bot scope usergroups:read (app_manifest.yml lists it) and reinstall the app")
    if not answer.ok:
        return fail(name, f"{where}: usergroups.users.list failed: {answer.error}", "try again; if it persists, "
                                                                                   "check status.slack.com")
    members = len(answer.data.get("users") or [])
    if not members:
        return warn(name, f"{where}: the group has no members, so it counts nobody",
                    "add people to the group in Slack, or name people (U...) in the policy instead")
    return ok(name, f"{where}: {members} member{'s' if members != 1 else ''}")
