"""The driver against a real bolt App, over signed HTTP and over Socket Mode (bolt's builtin handler)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_bolt import Ack as BoltAck
from slack_bolt import App, Respond
from slack_sdk import WebClient

from kukey_sandbox.slack import NoModal, NoSuchButton, SlackDriver, SlackDriverError, SlackFake
from tests.sandbox.slack_fixtures import (
    ALICE,
    APPROVALS,
    BOB,
    CAROL,
    MODAL,
    SECRET,
    bolt_app,
    button_blocks,
    populated,
    serve_http,
    serve_socket,
)

SECOND_STEP = {"type": "modal", "callback_id": "second", "title": {"type": "plain_text", "text": "Step 2"},
               "close": {"type": "plain_text", "text": "Back"}, "notify_on_close": True,
               "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Sure?"}}]}


@dataclass
class Seen:
    """What the test app received, for assertions."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    clicks: list[dict[str, Any]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)


def kukey_like_app(fake: SlackFake, seen: Seen) -> App:
    """A small app shaped like kukey: command -> modal -> TOTP check inline -> message with buttons."""
    app = bolt_app(fake)

    @app.command("/kukey")
    def command(ack: BoltAck, command: dict[str, Any], client: WebClient) -> None:
        text = command["text"]
        if text == "hello":
            ack(f"Hello <@{command['user_id']}>")
        elif text == "announce":
            ack(response_type="in_channel", text="Announced")
        else:
            ack()
            client.views_open(trigger_id=command["trigger_id"], view=MODAL)

    @app.view("code_modal")
    def submitted(ack: BoltAck, view: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        code = view["state"]["values"]["code"]["value"]["value"]
        if code == "push":
            ack(response_action="push", view=SECOND_STEP)
        elif code == "update":
            ack(response_action="update", view={**MODAL, "private_metadata": "updated"})
        elif code == "clear":
            ack(response_action="clear")
        elif code != "123456":
            ack(response_action="errors", errors={"code": "That code is not right."})
        else:
            ack()
            client.chat_postMessage(channel=APPROVALS, text=f"request {view['private_metadata']}",
                                    blocks=button_blocks("Approve", "Deny"))

    @app.view_closed("second")
    def closed(ack: BoltAck, view: dict[str, Any]) -> None:
        ack()
        with seen.lock:
            seen.closed.append(view["callback_id"])

    @app.action("approve")
    def approve(ack: BoltAck, body: dict[str, Any], respond: Respond) -> None:
        ack()
        with seen.lock:
            seen.clicks.append(body)
        if body["container"]["type"] == "message":
            respond(replace_original=True, text=f"Approved by <@{body['user']['id']}>")

    @app.action("deny")
    def deny(ack: BoltAck, body: dict[str, Any]) -> None:
        ack()
        with seen.lock:
            seen.clicks.append(body)

    return app


@dataclass
class Env:
    fake: SlackFake
    driver: SlackDriver
    seen: Seen


@pytest.fixture(params=["http", "socket"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    fake = populated()
    seen = Seen()
    app = kukey_like_app(fake, seen)
    try:
        if request.param == "http":
            with serve_http(app) as url:
                yield Env(fake, SlackDriver(fake, url), seen)
        else:
            with serve_socket(app, fake):
                yield Env(fake, SlackDriver(fake, socket=True), seen)
                assert fake.unacked() == []
    finally:
        fake.stop()


def post_request(env: Env) -> str:
    """Run the modal flow to the end; returns the ts of the message with Approve/Deny buttons."""
    env.driver.slash(ALICE, APPROVALS, "approve")
    env.fake.wait_for(lambda: env.fake.modal(ALICE), what="the modal")
    env.driver.submit(ALICE, {"code": "123456"})
    return env.fake.wait_for(lambda: env.fake.messages(APPROVALS), what="the request message")[-1].ts


def test_slash_command_modal_inline_error_then_success(env: Env) -> None:
    """Slash command opens a modal via trigger_id; a wrong code is shown inline; the right one closes it."""
    ack = env.driver.slash(ALICE, APPROVALS, "approve")
    assert ack.ok and ack.body == ""
    view = env.fake.wait_for(lambda: env.fake.modal(ALICE), what="the modal")
    assert view.callback_id == "code_modal"
    wrong = env.driver.submit(ALICE, {"code": "000000"})
    assert wrong.errors == {"code": "That code is not right."}
    assert env.fake.modal(ALICE) is not None and env.fake.modal(ALICE).errors == wrong.errors
    right = env.driver.submit(ALICE, {"value": "123456"})  # by action_id this time
    assert right.errors == {} and env.fake.modal(ALICE) is None
    message = env.fake.wait_for(lambda: env.fake.messages(APPROVALS), what="the request")[-1]
    assert (message.text, message.button_labels) == ("request req-1", ["Approve", "Deny"])


def test_an_ack_says_when_its_request_left_and_conditions_copy_only_what_they_find(env: Env) -> None:
    """`Ack.sent_at` is when the request left the driver (the benchmark times a step from it); the conditions
    for wait_for (first_ephemeral, first_message, modal_callback_id) answer what the queries answer, for the
    first match only, as copies."""
    before = time.perf_counter()
    ack = env.driver.slash(ALICE, APPROVALS, "approve")
    assert ack.sent_at is not None and before < ack.sent_at < time.perf_counter()
    assert env.fake.wait_for(lambda: env.fake.modal_callback_id(ALICE), what="the modal") == "code_modal"
    assert env.fake.modal_callback_id(BOB) is None
    env.driver.submit(ALICE, {"code": "123456"})
    found = env.fake.wait_for(lambda: env.fake.first_message(APPROVALS, lambda m: "req-1" in m.text),
                              what="the request")
    assert found.ts == env.fake.messages(APPROVALS)[-1].ts
    found.text = "changed"
    assert env.fake.messages(APPROVALS)[-1].text == "request req-1"
    env.fake.post_as(BOB, APPROVALS, "first", thread_ts=found.ts)
    env.fake.post_as(CAROL, APPROVALS, "second", thread_ts=found.ts)
    reply = env.fake.first_message(APPROVALS, lambda m: m.user in (BOB, CAROL), thread_ts=found.ts)
    assert reply is not None and reply.text == "first"
    env.driver.slash(ALICE, APPROVALS, "hello")
    shown = env.fake.first_ephemeral(ALICE, lambda e: "Hello" in e.text)
    assert shown is not None and shown.text == f"Hello <@{ALICE}>"
    assert env.fake.first_ephemeral(ALICE, lambda e: "nothing" in e.text) is None


def test_view_submission_payload_has_slacks_shape(env: Env) -> None:
    """view_submission carries id, callback_id, private_metadata, hash and state.values in Slack's shape."""
    env.driver.slash(ALICE, APPROVALS, "approve")
    view = env.fake.wait_for(lambda: env.fake.modal(ALICE))
    sent = env.driver.submit(ALICE, {"code": "123456"}).request
    assert sent["type"] == "view_submission" and sent["user"]["id"] == ALICE
    sent_view = sent["view"]
    assert (sent_view["id"], sent_view["callback_id"], sent_view["private_metadata"], sent_view["hash"]) \
        == (view.id, "code_modal", "req-1", view.hash)
    typed = {"type": "plain_text_input", "value": "123456"}
    assert sent_view["state"]["values"] == {"code": {"value": typed}}


def test_ack_text_is_shown_to_the_user_only(env: Env) -> None:
    """A slash command's ack text appears as an ephemeral message; response_type in_channel posts for all."""
    env.driver.slash(ALICE, APPROVALS, "hello")
    assert [(e.channel, e.text, e.via) for e in env.fake.ephemerals(ALICE)] == [
        (APPROVALS, f"Hello <@{ALICE}>", "ack")]
    env.driver.slash(ALICE, APPROVALS, "announce")
    assert [m.text for m in env.fake.messages(APPROVALS)] == ["Announced"]
    assert [e.text for e in env.fake.ephemerals(BOB)] == []


def test_click_by_label_and_respond_replace_original(env: Env) -> None:
    """Clicking "Approve" reaches the app; its respond(replace_original) removes the buttons for all."""
    ts = post_request(env)
    assert env.driver.click(BOB, "Approve").ok
    edited = f"Approved by <@{BOB}>"
    env.fake.wait_for(lambda: env.fake.message(APPROVALS, ts).text == edited, what="the edit")
    with pytest.raises(NoSuchButton, match="Approve"):
        env.driver.click(ALICE, "Approve")
    assert env.seen.clicks[0]["actions"][0]["value"] == "v-approve"


def test_buttons_are_only_clickable_where_visible(env: Env) -> None:
    """A person outside the channel sees no button; narrowing by channel, ts or ephemeral is honoured."""
    ts = post_request(env)
    with pytest.raises(NoSuchButton):
        env.driver.click(CAROL, "Approve")
    with pytest.raises(NoSuchButton):
        env.driver.click(ALICE, "Approve", ephemeral=True)
    with pytest.raises(NoSuchButton):
        env.driver.click(ALICE, "Approve", channel=SECRET)
    assert env.driver.click(ALICE, "Deny", channel=APPROVALS, ts=ts).ok


def test_twenty_simultaneous_clicks_are_all_delivered(env: Env) -> None:
    """Twenty clicks fired at once from threads all reach the app and are all acknowledged."""
    post_request(env)
    people = [f"U0P{i:02d}" for i in range(20)]
    for person in people:
        env.fake.add_user(person, person.lower())
        env.fake.join(APPROVALS, person)
    with ThreadPoolExecutor(max_workers=20) as pool:
        acks = list(pool.map(lambda p: env.driver.click(p, "Deny"), people))
    assert all(a.status == 200 for a in acks)
    env.fake.wait_for(lambda: len(env.seen.clicks) == 20, what="20 clicks at the app")
    assert sorted(c["user"]["id"] for c in env.seen.clicks) == people


def test_response_actions_push_update_and_clear(env: Env) -> None:
    """response_action push stacks a view, update replaces it in place, clear closes the whole stack."""
    env.driver.slash(ALICE, APPROVALS, "approve")
    root = env.fake.wait_for(lambda: env.fake.modal(ALICE))
    env.driver.submit(ALICE, {"code": "update"})
    updated = env.fake.modal(ALICE)
    assert (updated.id, updated.private_metadata) == (root.id, "updated") and updated.hash != root.hash
    env.driver.submit(ALICE, {"code": "push"})
    assert env.fake.modal(ALICE).title == "Step 2"
    env.driver.close(ALICE)  # notify_on_close: the app hears view_closed
    env.fake.wait_for(lambda: env.seen.closed == ["second"], what="view_closed")
    assert env.fake.modal(ALICE).id == root.id
    env.driver.submit(ALICE, {"code": "clear"})
    assert env.fake.modal(ALICE) is None


def test_submitting_without_a_modal_or_required_input_is_impossible(env: Env) -> None:
    """Submitting with no modal, or with a required input empty, raises: Slack's client would refuse."""
    with pytest.raises(NoModal):
        env.driver.submit(ALICE, {"code": "1"})
    env.driver.slash(ALICE, APPROVALS, "approve")
    env.fake.wait_for(lambda: env.fake.modal(ALICE))
    with pytest.raises(SlackDriverError, match="TOTP code"):
        env.driver.submit(ALICE, {})
    with pytest.raises(SlackDriverError, match="no input 'nope'"):
        env.driver.submit(ALICE, {"nope": "1"})


def test_a_click_inside_a_modal_sends_the_view(env: Env) -> None:
    """A button in the user's open modal sends container type view with the view and no response_url."""
    client = WebClient(base_url=env.fake.api_url, token=env.fake.bot_token)
    env.driver.slash(ALICE, APPROVALS, "approve")
    view = env.fake.wait_for(lambda: env.fake.modal(ALICE))
    with_button = {**MODAL, "blocks": [*MODAL["blocks"], *button_blocks("Approve")]}
    client.views_update(view_id=view.id, view=with_button)
    env.driver.click(ALICE, "Approve")
    body = env.fake.wait_for(lambda: env.seen.clicks)[0]
    assert body["container"] == {"type": "view", "view_id": view.id}
    assert body["view"]["id"] == view.id and "response_url" not in body
