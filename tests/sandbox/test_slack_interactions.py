"""trigger_id, response_url and modal rules, exercised through real interactions with a tiny bolt App."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from slack_bolt import Ack as BoltAck
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.domain.clock import FakeClock
from kukey_sandbox.slack import NoSuchButton, SlackDriver, SlackDriverError, SlackFake, payloads
from tests.sandbox.slack_fixtures import (
    ALICE,
    APPROVALS,
    BOB,
    MODAL,
    SECRET,
    bolt_app,
    button_blocks,
    populated,
    serve_http,
    slack_error,
)


@dataclass
class Env:
    fake: SlackFake
    clock: FakeClock
    driver: SlackDriver
    client: WebClient


@pytest.fixture
def env() -> Iterator[Env]:
    clock = FakeClock()
    fake = populated(clock)
    app = bolt_app(fake)

    def just_ack(ack: BoltAck) -> None:
        ack()

    app.command("/kukey")(just_ack)
    app.action(re.compile(".*"))(just_ack)
    app.view(re.compile(".*"))(just_ack)
    try:
        with serve_http(app) as url:
            client = WebClient(base_url=fake.api_url, token=fake.bot_token)
            yield Env(fake, clock, SlackDriver(fake, url), client)
    finally:
        fake.stop()


def modal(**changes: Any) -> dict[str, Any]:
    view = copy.deepcopy(MODAL)
    view.update(changes)
    return view


def open_modal(env: Env, user: str = ALICE, view: dict[str, Any] | None = None) -> str:
    trigger = env.driver.slash(user, APPROVALS, "approve").request["trigger_id"]
    return str(env.client.views_open(trigger_id=trigger, view=view or MODAL)["view"]["id"])


# --- trigger_id ------------------------------------------------------------------------------------

def test_a_trigger_opens_a_modal_for_the_person_who_acted(env: Env) -> None:
    """views.open with a fresh trigger_id opens the modal for the user who ran the command."""
    view_id = open_modal(env, BOB)
    shown = env.fake.modal(BOB)
    assert shown is not None
    assert (shown.id, shown.callback_id, shown.private_metadata) == (view_id, "code_modal", "req-1")
    assert env.fake.modal(ALICE) is None


def test_a_reused_trigger_id_is_refused(env: Env) -> None:
    """A trigger_id works once: the second views.open answers exchanged_trigger_id."""
    trigger = env.driver.slash(ALICE, APPROVALS, "").request["trigger_id"]
    env.client.views_open(trigger_id=trigger, view=MODAL)
    again = slack_error(lambda: env.client.views_open(trigger_id=trigger, view=MODAL))
    assert again == "exchanged_trigger_id"


def test_a_trigger_id_expires_after_three_seconds(env: Env) -> None:
    """After 3 s on the injected clock, views.open answers expired_trigger_id."""
    trigger = env.driver.slash(ALICE, APPROVALS, "").request["trigger_id"]
    env.clock.advance(3.001)
    assert slack_error(lambda: env.client.views_open(trigger_id=trigger, view=MODAL)) == "expired_trigger_id"


def test_an_unknown_trigger_id_is_invalid(env: Env) -> None:
    """A trigger_id the fake never issued answers invalid_trigger_id."""
    assert slack_error(lambda: env.client.views_open(trigger_id="1.2.ab", view=MODAL)) == "invalid_trigger_id"


# --- response_url ----------------------------------------------------------------------------------

def test_a_response_url_works_five_times(env: Env) -> None:
    """The sixth POST to a response_url answers HTTP 404 used_url and shows nothing."""
    hook = WebhookClient(env.driver.slash(ALICE, APPROVALS, "").request["response_url"])
    assert [hook.send(text=f"update {i}").status_code for i in range(5)] == [200] * 5
    sixth = hook.send(text="one too many")
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    assert [e.text for e in env.fake.ephemerals(ALICE)] == [f"update {i}" for i in range(5)]


def test_a_response_url_expires_after_thirty_minutes(env: Env) -> None:
    """After 30 minutes on the injected clock the response_url answers 404 expired_url."""
    hook = WebhookClient(env.driver.slash(ALICE, APPROVALS, "").request["response_url"])
    env.clock.advance(timedelta(minutes=30, seconds=1))
    answer = hook.send(text="late")
    assert (answer.status_code, answer.body) == (404, "expired_url")
    assert (WebhookClient(env.fake.base_url + "commands/T0/1/x").send(text="?").status_code) == 404


def test_response_type_chooses_ephemeral_or_channel(env: Env) -> None:
    """A response is ephemeral by default; response_type in_channel posts a bot message everyone sees."""
    hook = WebhookClient(env.driver.slash(ALICE, APPROVALS, "").request["response_url"])
    hook.send(text="just you")
    hook.send(text="everyone", response_type="in_channel")
    assert [e.text for e in env.fake.ephemerals(ALICE)] == ["just you"]
    [message] = env.fake.messages(APPROVALS)
    assert (message.text, message.user) == ("everyone", env.fake.bot_user_id)
    assert "just you" not in env.fake.visible_to(BOB).content


def test_a_response_can_go_into_a_thread(env: Env) -> None:
    """thread_ts in a response_url post puts the reply into that thread."""
    parent = env.client.chat_postMessage(channel=APPROVALS, text="req", blocks=button_blocks("Approve"))["ts"]
    hook = WebhookClient(env.driver.click(ALICE, "Approve").request["response_url"])
    hook.send_dict({"text": "noted", "response_type": "in_channel", "thread_ts": parent})
    assert [m.text for m in env.fake.thread(APPROVALS, parent)] == ["noted"]


def test_replace_original_rewrites_the_clicked_ephemeral(env: Env) -> None:
    """replace_original through the click's response_url is the one way to change an ephemeral message."""
    env.client.chat_postEphemeral(channel=APPROVALS, user=ALICE, text="ok?", blocks=button_blocks("Confirm"))
    hook = WebhookClient(env.driver.click(ALICE, "Confirm", ephemeral=True).request["response_url"])
    assert hook.send(text="confirmed", replace_original=True).status_code == 200
    [shown] = env.fake.ephemerals(ALICE)
    assert (shown.text, shown.button_labels) == ("confirmed", [])
    with pytest.raises(NoSuchButton):
        env.driver.click(ALICE, "Confirm")


def test_delete_original_removes_the_clicked_ephemeral(env: Env) -> None:
    """delete_original through the click's response_url makes the ephemeral message disappear."""
    env.client.chat_postEphemeral(channel=APPROVALS, user=ALICE, text="ok?", blocks=button_blocks("Confirm"))
    hook = WebhookClient(env.driver.click(ALICE, "Confirm").request["response_url"])
    assert hook.send_dict({"delete_original": True}).status_code == 200
    assert env.fake.ephemerals(ALICE) == []


def test_replace_original_rewrites_a_channel_message(env: Env) -> None:
    """replace_original on a click from a channel message edits that message in place for everyone."""
    blocks = button_blocks("Approve", "Deny")
    ts = env.client.chat_postMessage(channel=APPROVALS, text="pending", blocks=blocks)["ts"]
    hook = WebhookClient(env.driver.click(BOB, "Deny").request["response_url"])
    hook.send(text="denied by bob", replace_original=True)
    message = env.fake.message(APPROVALS, ts)
    assert message is not None
    assert (message.text, message.button_labels, message.edits) == ("denied by bob", [], 1)


def test_a_commands_response_url_replaces_its_earlier_answer(env: Env) -> None:
    """For a slash command, replace_original targets the first message sent through its response_url."""
    hook = WebhookClient(env.driver.slash(ALICE, APPROVALS, "status").request["response_url"])
    hook.send(text="working...")
    hook.send(text="done", replace_original=True)
    assert [e.text for e in env.fake.ephemerals(ALICE)] == ["done"]


def test_response_url_posts_obey_text_limits(env: Env) -> None:
    """A response_url post with text over 4000 characters is refused with 400 msg_too_long."""
    hook = WebhookClient(env.driver.slash(ALICE, APPROVALS, "").request["response_url"])
    answer = hook.send(text="x" * 4001)
    assert (answer.status_code, answer.body) == (400, "msg_too_long")


# --- views -----------------------------------------------------------------------------------------

def test_views_push_needs_an_open_modal(env: Env) -> None:
    """views.push with a trigger from a user without an open modal answers not_found."""
    trigger = env.driver.slash(ALICE, APPROVALS, "").request["trigger_id"]
    assert slack_error(lambda: env.client.views_push(trigger_id=trigger, view=MODAL)) == "not_found"


def test_views_push_stacks_up_to_three(env: Env) -> None:
    """A button inside a modal gives a trigger for views.push; the fourth view answers push_limit_reached."""
    with_button = modal(blocks=[*MODAL["blocks"], *button_blocks("More")])
    root = open_modal(env, view=with_button)
    for depth in (2, 3):
        trigger = env.driver.click(ALICE, "More").request["trigger_id"]
        pushed = env.client.views_push(trigger_id=trigger, view=with_button)["view"]
        assert pushed["root_view_id"] == root and env.fake.modal(ALICE).id == pushed["id"]
        assert len(env.fake.world.stacks[ALICE]) == depth
    trigger = env.driver.click(ALICE, "More").request["trigger_id"]
    assert slack_error(lambda: env.client.views_push(trigger_id=trigger, view=MODAL)) == "push_limit_reached"


def test_views_update_checks_the_hash(env: Env) -> None:
    """views.update by view_id with the current hash works; a stale hash answers hash_conflict."""
    view_id = open_modal(env)
    stale = env.fake.modal(ALICE).hash
    updated = env.client.views_update(view_id=view_id, hash=stale, view=modal(private_metadata="2"))["view"]
    assert updated["hash"] != stale and env.fake.modal(ALICE).private_metadata == "2"
    conflict = slack_error(lambda: env.client.views_update(view_id=view_id, hash=stale, view=MODAL))
    assert conflict == "hash_conflict"
    assert slack_error(lambda: env.client.views_update(view_id="V0NOPE", view=MODAL)) == "not_found"


def test_view_limits_answer_invalid_arguments(env: Env) -> None:
    """private_metadata over 3000, callback_id over 255 or a title over 24 characters -> invalid_arguments."""
    view_id = open_modal(env)
    for bad in (modal(private_metadata="m" * 3001), modal(callback_id="c" * 256),
                modal(title={"type": "plain_text", "text": "t" * 25})):
        trigger = env.driver.slash(ALICE, APPROVALS, "").request["trigger_id"]
        update = partial(env.client.views_update, view_id=view_id, view=bad)
        open_ = partial(env.client.views_open, trigger_id=trigger, view=bad)
        assert slack_error(update) == slack_error(open_) == "invalid_arguments"
    assert env.client.views_update(view_id=view_id, view=modal(private_metadata="m" * 3000))["ok"]


def test_block_actions_payloads_have_slacks_shape(env: Env) -> None:
    """A click sends container, channel, message, response_url and the action, as Slack does."""
    ts = env.client.chat_postMessage(channel=APPROVALS, text="req", blocks=button_blocks("Approve"))["ts"]
    body = env.driver.click(BOB, "Approve").request
    assert body["type"] == "block_actions" and body["user"]["id"] == BOB and body["user"]["username"] == "bob"
    assert body["container"] == {"type": "message", "message_ts": ts, "channel_id": APPROVALS,
                                 "is_ephemeral": False}
    assert body["channel"] == {"id": APPROVALS, "name": "approvals"} and body["message"]["ts"] == ts
    [action] = body["actions"]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "approve", "decide", "v-approve", "button")
    assert action["text"] == {"type": "plain_text", "text": "Approve", "emoji": True}
    env.client.chat_postEphemeral(channel=APPROVALS, user=BOB, text="eph", blocks=button_blocks("Approve"))
    private = env.driver.click(BOB, "Approve").request
    assert private["container"]["is_ephemeral"] is True and "message" not in private


def test_commands_work_in_the_bots_dm_but_not_in_hidden_channels(env: Env) -> None:
    """A command in the bot's DM is answered there; a private channel the user is not in is out of reach."""
    dm = env.fake.dm(BOB)
    hook = WebhookClient(env.driver.slash(BOB, dm, "status").request["response_url"])
    hook.send(text="all good")
    assert [(e.channel, e.text) for e in env.fake.ephemerals(BOB)] == [(dm, "all good")]
    with pytest.raises(SlackDriverError, match="cannot see it"):
        env.driver.slash(BOB, SECRET, "status")


def test_an_answer_is_the_view_as_it_stood_when_the_call_was_made(env: Env) -> None:
    """views.open answers with the view as it was inside the call: what the person types into the modal after
    that is not in the answer. (The HTTP reply is written after the call's transaction; the answer used to
    hold the view's live input state, and on a loaded machine carried a TOTP code typed meanwhile into
    slack_sdk's debug log line: tests/scenarios/test_no_secret_leaks.py.)"""
    trigger = env.driver.slash(ALICE, APPROVALS, "approve").request["trigger_id"]
    with env.fake.world.transaction() as world:
        answer = env.fake._api.call("views.open", {"trigger_id": trigger, "view": json.dumps(MODAL)},
                                    env.fake.bot_token)
        payloads.fill(world.views[answer["view"]["id"]], {"code": "123456"})
    assert answer["ok"] and "123456" not in json.dumps(answer)
    assert env.fake.modal(ALICE).state == {"code": {"value": {"type": "plain_text_input", "value": "123456"}}}
