"""The Slack checks against the Slack fake: tokens, signing secret, Slack's clock, channels, user groups."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.clock import SystemClock
from bot.preflight import Status, run_preflight
from kukey_sandbox.world import APPROVER, AUDIT, INCIDENT, KukeyWorld, default_policy
from tests.preflight.conftest import by_check, only_problem, seed_with

SLACK = ("policy", "slack bot token", "slack app token", "slack signing secret", "slack clock", "channels",
         "user groups")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_wrong_bot_token_fails_and_the_checks_needing_it_wait(env: dict[str, str]) -> None:
    """A bot token Slack does not know fails with invalid_auth (never printed); channels and user groups
    are skipped, and Slack's clock is still read from the refusal's Date header."""
    env["SLACK_BOT_TOKEN"] = "xoxb-0000-not-the-token"
    report = run_preflight(env=env, checks=SLACK)
    results = by_check(report)
    assert results["slack bot token"].lines()[0] == (
        "FAIL slack bot token: auth.test refused the bot token: invalid_auth")
    assert "Bot User OAuth Token" in results["slack bot token"].fix
    assert [r.check for r in report.having(Status.SKIP)] == ["channels", "user groups"]
    assert results["slack clock"].status == Status.OK
    assert report.bot_user_id is None
    assert "not-the-token" not in "\n".join(line for r in report.results for line in r.lines())


def test_a_garbage_app_token_fails_in_socket_mode_only(env: dict[str, str], world: KukeyWorld) -> None:
    """apps.connections.open refuses an app token Slack does not know (and nothing connects), while HTTP mode
    does not need one."""
    env["SLACK_APP_TOKEN"] = "xapp-1-A0KUKEYAPP-1-garbage"
    result = only_problem(run_preflight(env=env, checks=SLACK))
    assert result.lines()[0] == "FAIL slack app token: apps.connections.open refused the app token: invalid_auth"
    assert "connections:write" in result.fix
    assert not [r for r in run_preflight(env=env, checks=SLACK, http_mode=True).results if r.status != Status.OK]
    assert world.fake.socket.connection_count == 0


def test_the_app_token_check_opens_no_connection(env: dict[str, str], world: KukeyWorld) -> None:
    """With a working app token, Slack issues one Socket Mode URL and nothing connects to it."""
    assert by_check(run_preflight(env=env, checks=SLACK))["slack app token"].status == Status.OK
    assert len(world.fake.calls("apps.connections.open")) == 1
    assert world.fake.socket.connection_count == 0


def test_an_unreachable_slack_fails_once(env: dict[str, str]) -> None:
    """A Slack that does not answer fails the bot token check with the address; everything else about
    Slack is skipped rather than failing again."""
    url = f"http://127.0.0.1:{_closed_port()}/api/"
    env["SLACK_API_URL"] = url
    report = run_preflight(env=env, checks=SLACK)
    assert [r.lines()[0] for r in report.having(Status.FAIL)] == [
        f"FAIL slack bot token: no answer from {url}: could not connect"]
    assert [r.check for r in report.having(Status.SKIP)] == [
        "slack app token", "slack clock", "channels", "user groups"]


@pytest.mark.parametrize(("secret", "detail"), [
    ("", "SLACK_SIGNING_SECRET is not set (HTTP mode needs it)"),
    ("abc123verificationtoken0", "it is 24 characters, not the 32 hexadecimal digits of a Slack signing secret "
                                 "(the Verification Token is not it)"),
])
def test_a_missing_or_misshapen_signing_secret_fails_in_http_mode(env: dict[str, str], secret: str,
                                                                  detail: str) -> None:
    """HTTP mode needs a signing secret of Slack's shape (32 hex digits); the line never shows the value."""
    env["SLACK_SIGNING_SECRET"] = secret
    result = only_problem(run_preflight(env=env, checks=SLACK, http_mode=True))
    assert result.lines()[0] == f"FAIL slack signing secret: {detail}"
    assert "Basic Information" in result.fix


def test_the_signing_secret_line_says_it_cannot_be_checked_remotely(env: dict[str, str]) -> None:
    """A signing secret of the right shape is OK, and the line says Slack cannot confirm it from here."""
    result = by_check(run_preflight(env=env, checks=SLACK, http_mode=True))["slack signing secret"]
    assert result.status == Status.OK
    assert "Slack cannot check it from here" in result.detail


@pytest.mark.parametrize(("skew", "status", "where"), [(3, Status.WARN, "behind"), (-8, Status.FAIL, "ahead of")])
def test_slacks_clock_warns_past_1_s_and_fails_past_5_s(env: dict[str, str], world: KukeyWorld, skew: int,
                                                         status: Status, where: str) -> None:
    """Slack's Date header 3 s ahead of this host is a WARN, 8 s behind it a FAIL; both advise NTP."""
    world.fake.set_clock_skew(skew)
    result = by_check(run_preflight(env=env, checks=SLACK))["slack clock"]
    assert result.status == status
    assert result.detail.startswith("this host is ") and result.detail.endswith(f" s {where} Slack")
    assert "NTP" in result.fix


def _policy(env: dict[str, str], **replace: str) -> None:
    text = default_policy()
    for old, new in replace.items():
        text = text.replace(f'"{old}"', f'"{new}"')
    Path(env["KUKEY_POLICY"]).write_text(text, encoding="utf-8")


def test_a_channel_slack_does_not_know_fails(env: dict[str, str]) -> None:
    """A policy channel id Slack does not know fails, saying where the id is and that private channels need
    an invite first."""
    _policy(env, C0APPROVALS="C0NOSUCHCH")
    result = only_problem(run_preflight(env=env, checks=SLACK))
    assert result.lines()[0] == "FAIL channel C0NOSUCHCH: approvals channel: Slack finds no such channel (or it " \
                                "is private and the bot is not in it)"
    assert "/invite @kukey" in result.fix


def test_a_public_channel_without_the_bot_fails(env: dict[str, str], world: KukeyWorld) -> None:
    """The bot must be a member even of a public channel: its chat:write scope posts only where it is one."""
    world.fake.leave(INCIDENT, world.fake.bot_user_id)
    result = only_problem(run_preflight(env=env, checks=SLACK))
    assert result.lines()[0] == "FAIL channel C0INCIDENT: incident channel #incident: the bot is not a member"
    assert result.fix.startswith("/invite @kukey in #incident: ")


def test_a_private_channel_without_the_bot_is_invisible(env: dict[str, str], world: KukeyWorld) -> None:
    """A private channel the bot was not invited into looks to Slack as if it did not exist."""
    world.fake.add_channel("G0PRIVATE1", "secret-audit", members=[APPROVER], is_private=True)
    _policy(env, C0AUDITLOG="G0PRIVATE1")
    assert only_problem(run_preflight(env=env, checks=SLACK)).detail.startswith(
        "audit channel: Slack finds no such channel")
    world.fake.join("G0PRIVATE1", world.fake.bot_user_id)
    assert by_check(run_preflight(env=env, checks=SLACK))["channel G0PRIVATE1"].detail == \
        "audit channel #secret-audit: the bot is a member (private channel)"


def test_an_archived_channel_fails(env: dict[str, str], world: KukeyWorld) -> None:
    """An archived policy channel fails: nothing can be posted there."""
    world.fake.archive(AUDIT)
    assert only_problem(run_preflight(env=env, checks=SLACK)).lines()[0] == \
        "FAIL channel C0AUDITLOG: audit channel #kukey-audit is archived"


def test_one_channel_in_several_roles_is_checked_once(env: dict[str, str]) -> None:
    """A channel that is both the approvals and the incident channel is one line naming both roles."""
    _policy(env, C0INCIDENT="C0APPROVALS")
    results = by_check(run_preflight(env=env, checks=SLACK))
    assert results["channel C0APPROVALS"].detail == \
        "approvals and incident channel #kukey-approvals: the bot is a member"
    assert "channel C0INCIDENT" not in results


def test_without_the_channel_scopes_the_channels_are_warned_about(env: dict[str, str], world: KukeyWorld) -> None:
    """An app installed without channels:read cannot look at its channels: a WARN per channel, not a FAIL,
    since kukey itself runs without that scope."""
    world.fake.withhold_scope("channels:read")
    report = run_preflight(env=env, checks=SLACK)
    warned = report.having(Status.WARN)
    assert [r.check for r in warned] == ["channel C0APPROVALS", "channel C0INCIDENT", "channel C0AUDITLOG"]
    assert warned[0].detail == "approvals channel: not checked: the app lacks the channels:read scope"
    assert "channels:read and groups:read" in warned[0].fix
    assert not report.failed


def test_an_unknown_user_group_fails(env: dict[str, str]) -> None:
    """A user-group id Slack does not know fails, naming the policy key that holds it."""
    _policy(env, S0APPROVERS="S0NOSUCH1")
    result = only_problem(run_preflight(env=env, checks=SLACK))
    assert result.lines()[0] == "FAIL user group S0NOSUCH1: groups.approvers: Slack knows no such user group"
    assert result.fix == "put the user group's id (S...) in groups.approvers, or remove it"


def test_an_empty_user_group_is_a_warning(env: dict[str, str], world: KukeyWorld) -> None:
    """A user group with nobody in it warns (membership changes while kukey runs) but does not fail."""
    world.fake.add_usergroup("S0ONCALL1", "oncall", users=[])
    Path(env["KUKEY_POLICY"]).write_text(default_policy().replace(
        'responders = ["U0DAVE001"]', 'responders = ["U0DAVE001", "S0ONCALL1"]'), encoding="utf-8")
    report = run_preflight(env=env, checks=SLACK)
    result = only_problem(report)
    assert result.lines()[0] == "WARN user group S0ONCALL1: groups.responders: the group has no members, so it " \
                                "counts nobody"
    assert not report.failed


def test_user_groups_listed_inline_in_a_rule_are_checked(env: dict[str, str]) -> None:
    """A rule's inline approver list is checked too, named by the rule's key."""
    Path(env["KUKEY_POLICY"]).write_text(default_policy(approver_group=["S0APPROVERS", "S0INLINE1"]),
                                         encoding="utf-8")
    results = by_check(run_preflight(env=env, checks=SLACK))
    assert results["user group S0APPROVERS"].detail == "groups.approvers, rules[0].approver_group: 2 members"
    assert results["user group S0INLINE1"].detail == "rules[0].approver_group: Slack knows no such user group"


def test_without_usergroups_read_groups_fail(env: dict[str, str], world: KukeyWorld) -> None:
    """Without usergroups:read kukey cannot resolve approvers at all: a FAIL, with the scope to add."""
    world.fake.withhold_scope("usergroups:read")
    result = only_problem(run_preflight(env=env, checks=SLACK))
    assert result.detail == "groups.approvers: the app lacks the usergroups:read scope kukey needs to resolve groups"


def test_the_bot_tokens_scopes_are_checked_against_the_ones_kukey_uses(env: dict[str, str],
                                                                       world: KukeyWorld) -> None:
    """The scopes Slack names for the bot token (X-OAuth-Scopes): all there is OK; without im:history kukey
    works but cannot find a direct message whose answer was lost (WARN); without im:write it cannot send
    direct messages at all (FAIL); both say to reinstall with the manifest."""
    scopes = ("slack bot token", "slack scopes")
    result = by_check(run_preflight(env=env, checks=scopes))["slack scopes"]
    assert result.lines() == ["OK slack scopes: the bot token has every scope kukey uses (9)"]
    world.fake.withhold_scope("im:history")
    result = by_check(run_preflight(env=env, checks=scopes))["slack scopes"]
    assert (result.status, result.detail) == (Status.WARN, "kukey works, less well: the bot token lacks im:history "
                                              "(to find a direct message whose answer Slack lost instead of sending it "
                                              "twice)")
    assert "app_manifest.yml" in result.fix
    world.fake.withhold_scope("im:write")
    result = by_check(run_preflight(env=env, checks=scopes))["slack scopes"]
    assert (result.status, result.detail) == (Status.FAIL, "the bot token lacks im:write (to send direct messages)")


@pytest.fixture
def https_world(tmp_path: Path) -> Iterator[KukeyWorld]:
    """The installation of `world`, with Slack's side on HTTPS (its own CA: kukey_sandbox.tls)."""
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock(), slack_tls=True,
                    sandbox_kwargs={"seed": seed_with(["General"])}) as w:
        yield w


def test_a_slack_whose_certificate_is_not_trusted_says_so(https_world: KukeyWorld) -> None:
    """A server at SLACK_API_URL whose certificate this host does not trust (a TLS-inspecting proxy whose CA
    kukey lacks) fails the bot token check once, naming the certificate, not the network, and the fix says
    where kukey takes its CAs from; nothing was sent to it."""
    env = {k: v for k, v in https_world.env().items() if k != "SSL_CERT_FILE"}
    report = run_preflight(env=env, checks=SLACK)
    (failed,) = report.having(Status.FAIL)
    assert failed.lines() == [
        f"FAIL slack bot token: {https_world.fake.api_url}: its TLS certificate is not trusted here "
        "(unable to get local issuer certificate)",
        "  fix: if a proxy inspects TLS on this network, point SSL_CERT_FILE (or SSL_CERT_DIR) at a CA bundle "
        "that includes its CA; otherwise check SLACK_API_URL: the server there is not one kukey can trust"]
    assert [r.check for r in report.having(Status.SKIP)] == [
        "slack app token", "slack clock", "channels", "user groups"]
    assert https_world.fake.calls() == []


def test_kukey_doctor_trusts_the_cas_ssl_cert_file_names(https_world: KukeyWorld) -> None:
    """`kukey doctor` with SSL_CERT_FILE naming a bundle that holds the server's CA passes every Slack check
    over HTTPS: the standard variable is how an operator adds a proxy's CA."""
    result = subprocess.run([sys.executable, "-m", "bot", "doctor"], env={**os.environ, **https_world.env()},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK slack bot token: bot kukey" in result.stdout and "OK slack clock" in result.stdout
