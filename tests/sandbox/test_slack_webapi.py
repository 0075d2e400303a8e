"""The fake's Web API, driven by slack_sdk's real WebClient: Slack's answers and Slack's refusals."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from functools import partial

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from kukey_sandbox.slack import SlackFake
from tests.sandbox.slack_fixtures import (
    ALICE,
    APPROVALS,
    APPROVERS,
    BOB,
    CAROL,
    GONE,
    OLD,
    PRIVATE,
    SECRET,
    button_blocks,
    populated,
    slack_error,
)


@pytest.fixture
def fake() -> Iterator[SlackFake]:
    fake = populated()
    yield fake
    fake.stop()


@pytest.fixture
def client(fake: SlackFake) -> WebClient:
    return WebClient(base_url=fake.api_url, token=fake.bot_token)


def test_auth_test_answers_with_the_bot_identity(fake: SlackFake, client: WebClient) -> None:
    """auth.test with the bot token names the team and the bot user, in Slack's shape."""
    answer = client.auth_test()
    assert (answer["ok"], answer["team_id"], answer["user_id"], answer["bot_id"]) == (
        True, fake.team_id, fake.bot_user_id, fake.bot_id)


def test_missing_and_wrong_tokens_are_refused(fake: SlackFake) -> None:
    """No token -> not_authed, unknown -> invalid_auth, xapp on a bot method -> not_allowed_token_type."""
    assert slack_error(WebClient(base_url=fake.api_url).auth_test) == "not_authed"
    assert slack_error(WebClient(base_url=fake.api_url, token="xoxb-nope").auth_test) == "invalid_auth"
    app_client = WebClient(base_url=fake.api_url, token=fake.app_token)
    post = partial(app_client.chat_postMessage, channel=APPROVALS, text="x")
    assert slack_error(post) == "not_allowed_token_type"


def test_apps_connections_open_needs_the_app_token(fake: SlackFake, client: WebClient) -> None:
    """apps.connections.open returns a ws:// URL for the xapp token and refuses the bot token."""
    url = WebClient(base_url=fake.api_url).apps_connections_open(app_token=fake.app_token)["url"]
    assert url.startswith(f"ws://127.0.0.1:{fake.socket.port}/link/?ticket=")
    assert slack_error(partial(client.apps_connections_open, app_token=fake.bot_token)) \
        == "not_allowed_token_type"


def test_unknown_methods_answer_unknown_method(client: WebClient) -> None:
    """A method the fake does not implement answers unknown_method, HTTP 200, like Slack."""
    assert slack_error(lambda: client.api_call("chat.scheduleMessage")) == "unknown_method"


def test_calls_are_recorded_with_parameters_and_without_tokens(fake: SlackFake) -> None:
    """calls() lists method, decoded parameters and answer; a form-posted token is never recorded."""
    data = f"token={fake.bot_token}&channel={APPROVALS}&text=hello".encode()
    request = urllib.request.Request(fake.api_url + "chat.postMessage", data=data)  # noqa: S310 - loopback
    with urllib.request.urlopen(request) as response:  # noqa: S310 - the fake on loopback
        assert json.loads(response.read())["ok"] is True
    [call] = fake.calls("chat.postMessage")
    assert call.params == {"channel": APPROVALS, "text": "hello"} and call.ok
    assert fake.bot_token not in repr(fake.calls()) and fake.bot_token not in repr(fake)


def test_post_message_stores_text_blocks_and_increasing_ts(fake: SlackFake, client: WebClient) -> None:
    """chat.postMessage keeps text and blocks (ids filled in), authored by the bot, with increasing ts."""
    first = client.chat_postMessage(channel=APPROVALS, text="one", blocks=button_blocks("Approve"))
    second = client.chat_postMessage(channel=APPROVALS, text="two")
    assert float(second["ts"]) > float(first["ts"])
    messages = fake.messages(APPROVALS)
    assert [m.text for m in messages] == ["one", "two"]
    assert messages[0].user == fake.bot_user_id and messages[0].button_labels == ["Approve"]
    assert messages[0].blocks[0]["block_id"]  # Slack assigns block ids the app left out


def test_post_message_to_a_user_id_lands_in_their_dm(fake: SlackFake, client: WebClient) -> None:
    """channel=<user id> posts in the bot's DM with that user, which conversations.open also returns."""
    answer = client.chat_postMessage(channel=BOB, text="psst")
    dm = client.conversations_open(users=BOB)["channel"]["id"]
    assert answer["channel"] == dm == fake.dm(BOB) and dm.startswith("D")
    assert [m.text for m in fake.visible_to(BOB).messages] == ["psst"]
    assert "psst" not in fake.visible_to(ALICE).content


def test_posting_needs_an_open_channel_the_bot_belongs_to_when_private(client: WebClient) -> None:
    """Unknown -> channel_not_found, archived -> is_archived, private without the bot -> not_in_channel."""
    assert slack_error(lambda: client.chat_postMessage(channel="C0NOPE", text="x")) == "channel_not_found"
    assert slack_error(lambda: client.chat_postMessage(channel=OLD, text="x")) == "is_archived"
    assert slack_error(lambda: client.chat_postMessage(channel=SECRET, text="x")) == "not_in_channel"
    assert client.chat_postMessage(channel=PRIVATE, text="x")["ok"]


def test_ephemeral_goes_only_to_a_member_of_the_channel(fake: SlackFake, client: WebClient) -> None:
    """chat.postEphemeral to a non-member answers user_not_in_channel; a member sees it, nobody else does."""
    assert slack_error(lambda: client.chat_postEphemeral(channel=APPROVALS, user=CAROL, text="x")) \
        == "user_not_in_channel"
    ts = client.chat_postEphemeral(channel=APPROVALS, user=ALICE, text="only you")["message_ts"]
    assert [(e.channel, e.ts, e.text) for e in fake.ephemerals(ALICE)] == [(APPROVALS, ts, "only you")]
    assert fake.ephemerals(BOB) == [] and fake.messages(APPROVALS) == []


def test_ephemeral_channel_rules(client: WebClient) -> None:
    """chat.postEphemeral: channel_not_found, is_archived, not_in_channel (private, bot not a member)."""
    assert slack_error(lambda: client.chat_postEphemeral(channel="C0NOPE", user=ALICE, text="x")) \
        == "channel_not_found"
    assert slack_error(lambda: client.chat_postEphemeral(channel=OLD, user=ALICE, text="x")) == "is_archived"
    assert slack_error(partial(client.chat_postEphemeral, channel=SECRET, user=ALICE, text="x")) \
        == "not_in_channel"


def test_ephemeral_accepts_thread_ts(fake: SlackFake, client: WebClient) -> None:
    """An ephemeral message can sit in a thread; the user sees it with its thread_ts."""
    parent = client.chat_postMessage(channel=APPROVALS, text="parent")["ts"]
    client.chat_postEphemeral(channel=APPROVALS, user=ALICE, text="in thread", thread_ts=parent)
    assert [e.thread_ts for e in fake.ephemerals(ALICE)] == [parent]


def test_text_limits(client: WebClient) -> None:
    """Text over 4000 chars -> msg_too_long; section text over 3000 -> invalid_blocks; none -> no_text."""
    assert slack_error(lambda: client.chat_postMessage(channel=APPROVALS, text="x" * 4001)) == "msg_too_long"
    assert client.chat_postMessage(channel=APPROVALS, text="x" * 4000)["ok"]
    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}]
    assert slack_error(lambda: client.chat_postMessage(channel=APPROVALS, text="t", blocks=long_section)) \
        == "invalid_blocks"
    assert slack_error(lambda: client.chat_postEphemeral(channel=APPROVALS, user=ALICE, text="x" * 4001)) \
        == "msg_too_long"
    assert slack_error(lambda: client.api_call("chat.postMessage", json={"channel": APPROVALS})) == "no_text"


def test_invalid_blocks_name_the_problem(client: WebClient) -> None:
    """invalid_blocks comes with response_metadata messages pointing at the offending field."""
    blocks = button_blocks("A" * 76)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=APPROVALS, text="t", blocks=blocks)
    assert caught.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 76 characters [json-pointer:/blocks/1/elements/0/text/text]"]


def test_chat_update_edits_only_the_bots_existing_messages(fake: SlackFake, client: WebClient) -> None:
    """chat.update edits bot messages; unknown ts -> message_not_found; a person's -> cant_update_message."""
    ts = client.chat_postMessage(channel=APPROVALS, text="pending", blocks=button_blocks("Approve"))["ts"]
    client.chat_update(channel=APPROVALS, ts=ts, text="approved by bob", blocks=[])
    edited = fake.message(APPROVALS, ts)
    assert edited is not None and (edited.text, edited.button_labels) == ("approved by bob", [])
    update = partial(client.chat_update, channel=APPROVALS, text="x")
    assert slack_error(partial(update, ts="1.000001")) == "message_not_found"
    theirs = fake.post_as(ALICE, APPROVALS, "hello")
    assert slack_error(partial(update, ts=theirs)) == "cant_update_message"


def test_chat_update_cannot_reach_an_ephemeral_message(client: WebClient) -> None:
    """An ephemeral message's ts is unknown to chat.update and chat.delete: message_not_found, as in Slack."""
    ts = client.chat_postEphemeral(channel=APPROVALS, user=ALICE, text="secret")["message_ts"]
    assert slack_error(lambda: client.chat_update(channel=APPROVALS, ts=ts, text="x")) == "message_not_found"
    assert slack_error(lambda: client.chat_delete(channel=APPROVALS, ts=ts)) == "message_not_found"


def test_chat_delete_removes_the_bots_message(fake: SlackFake, client: WebClient) -> None:
    """chat.delete removes a bot message; a person's message answers cant_delete_message."""
    ts = client.chat_postMessage(channel=APPROVALS, text="oops")["ts"]
    client.chat_delete(channel=APPROVALS, ts=ts)
    assert fake.messages(APPROVALS) == [] and fake.message(APPROVALS, ts) is None
    theirs = fake.post_as(ALICE, APPROVALS, "mine")
    assert slack_error(lambda: client.chat_delete(channel=APPROVALS, ts=theirs)) == "cant_delete_message"


def test_replies_go_into_the_parents_thread(fake: SlackFake, client: WebClient) -> None:
    """Replies appear in thread(), not among top-level messages; the parent lists them."""
    parent = client.chat_postMessage(channel=APPROVALS, text="request")["ts"]
    reply = client.chat_postMessage(channel=APPROVALS, text="approved", thread_ts=parent)["ts"]
    nested = client.chat_postMessage(channel=APPROVALS, text="via reply ts", thread_ts=reply)["ts"]
    assert [m.text for m in fake.messages(APPROVALS)] == ["request"]
    assert [m.ts for m in fake.thread(APPROVALS, parent)] == [reply, nested]
    assert fake.message(APPROVALS, parent).replies == [reply, nested]


def test_a_thread_ts_without_parent_is_accepted_and_queryable(fake: SlackFake, client: WebClient) -> None:
    """Slack accepts an unknown thread_ts; the fake records the reply under it."""
    answer = client.chat_postMessage(channel=APPROVALS, text="orphan", thread_ts="1600000000.000100")
    assert answer["ok"] and answer["message"]["thread_ts"] == "1600000000.000100"
    assert [m.text for m in fake.thread(APPROVALS, "1600000000.000100")] == ["orphan"]
    assert fake.messages(APPROVALS) == []


def test_permalink_points_at_the_message(client: WebClient) -> None:
    """chat.getPermalink builds Slack's archive link; an unknown ts answers message_not_found."""
    ts = client.chat_postMessage(channel=APPROVALS, text="x")["ts"]
    link = client.chat_getPermalink(channel=APPROVALS, message_ts=ts)["permalink"]
    assert link.endswith(f"/archives/{APPROVALS}/p{ts.replace('.', '')}")
    assert slack_error(partial(client.chat_getPermalink, channel=APPROVALS, message_ts="1.1")) \
        == "message_not_found"


def test_users_info_needs_a_scope_kukeys_manifest_does_not_ask_for(client: WebClient) -> None:
    """As installed from kukey's manifest (no users:read), users.info answers missing_scope."""
    assert slack_error(lambda: client.users_info(user=ALICE)) == "missing_scope"


def test_users_info_shows_deleted_people(fake: SlackFake, client: WebClient) -> None:
    """With users:read granted, users.info reports deleted: true for someone who left; unknown ids answer
    user_not_found."""
    fake.grant_scope("users:read")
    assert client.users_info(user=GONE)["user"]["deleted"] is True
    alice = client.users_info(user=ALICE)["user"]
    assert (alice["deleted"], alice["name"], alice["real_name"]) == (False, "alice", "Alice A")
    assert slack_error(lambda: client.users_info(user="U0NOPE")) == "user_not_found"


def test_deactivating_a_user_changes_what_slack_reports(fake: SlackFake, client: WebClient) -> None:
    """After deactivate(): users.info says deleted, user groups drop them, conversations.open refuses."""
    fake.deactivate(BOB)
    fake.grant_scope("users:read")
    assert client.users_info(user=BOB)["user"]["deleted"] is True
    assert client.usergroups_users_list(usergroup=APPROVERS)["users"] == [ALICE]
    assert slack_error(lambda: client.conversations_open(users=BOB)) == "user_disabled"


def test_usergroup_members_and_unknown_groups(client: WebClient) -> None:
    """usergroups.users.list lists active members; an unknown group answers no_such_subteam."""
    assert client.usergroups_users_list(usergroup=APPROVERS)["users"] == [ALICE, BOB]
    assert slack_error(lambda: client.usergroups_users_list(usergroup="S0NOPE")) == "no_such_subteam"


def test_conversations_info_describes_channels_and_dms(fake: SlackFake, client: WebClient) -> None:
    """conversations.info gives privacy, archive state and the bot's membership; DMs show is_im, user; a
    private channel the bot is not in does not exist for it."""
    info = client.conversations_info(channel=PRIVATE)["channel"]
    assert (info["is_private"], info["is_member"], info["is_archived"]) == (True, True, False)
    assert slack_error(lambda: client.conversations_info(channel=SECRET)) == "channel_not_found"
    assert client.conversations_info(channel=OLD)["channel"]["is_archived"] is True
    dm = client.conversations_info(channel=fake.dm(ALICE))["channel"]
    assert (dm["is_im"], dm["user"]) == (True, ALICE)
    assert slack_error(lambda: client.conversations_info(channel="C0NOPE")) == "channel_not_found"


def test_visible_to_shows_only_what_a_person_can_see(fake: SlackFake, client: WebClient) -> None:
    """visible_to covers the person's channels (replies included), DMs and ephemerals, and nothing else."""
    parent = client.chat_postMessage(channel=APPROVALS, text="team")["ts"]
    client.chat_postMessage(channel=APPROVALS, text="reply", thread_ts=parent)
    client.chat_postMessage(channel=PRIVATE, text="alice only")
    client.chat_postMessage(channel=ALICE, text="dm")
    client.chat_postEphemeral(channel=APPROVALS, user=BOB, text="for bob")
    assert [m.text for m in fake.visible_to(ALICE).messages] == ["team", "reply", "alice only", "dm"]
    bob = fake.visible_to(BOB)
    assert [m.text for m in bob.messages] == ["team", "reply"]
    assert [e.text for e in bob.ephemerals] == ["for bob"]
    assert bob.modal is None


def test_wait_for_returns_the_value_or_explains_the_timeout(fake: SlackFake, client: WebClient) -> None:
    """wait_for returns the first truthy value; on timeout it fails with a picture of the workspace."""
    client.chat_postMessage(channel=APPROVALS, text="here")
    assert fake.wait_for(lambda: fake.messages(APPROVALS))[0].text == "here"
    with pytest.raises(AssertionError, match=r"(?s)timed out after 0.05 s waiting for a reply.*postMessage"):
        fake.wait_for(lambda: fake.thread(APPROVALS, "1.0"), timeout=0.05, what="a reply")
