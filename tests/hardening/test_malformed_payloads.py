"""Bad input at scale: validly SIGNED Slack payloads of random shape (missing user, wrong types, huge
strings, any unicode, nested junk, around kukey's real action and callback ids) never get a 500 and change
nothing."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.ops.server import MAX_BODY
from bot.slack import ids
from kukey_sandbox.world import APPROVALS, OUTSIDER, TRADING, KukeyWorld, Story
from tests.hardening.helpers import audit_actions, changes, exchange, posted, send_signed, snapshot

EXAMPLES = 150
pytestmark = [
    # Failing examples can hold 60 kB strings; Hypothesis warns about printing them.
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
    # The strategies use no `random`, but the bot's threads do meanwhile (slack_sdk's retry jitter, after a
    # reply to a dead response_url), and Hypothesis sees the module's state move while it draws.
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
]
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# Two ids act for whoever sends them, as Slack only sends them from the bot's own message or modal: "Wipe"
# records an audit event, the re-enroll form starts an enrollment (like `/kukey enroll`). The kill switch's
# form audits every refusal (who tried it, where). They are left out so that "changes nothing" holds for
# every example; the rest of kukey's ids are all in play.
ACTIONS = [a for a in ids.ALL_ACTIONS if a != ids.WIPE]
VIEWS = [v for v in ids.ALL_VIEWS if v not in (ids.REENROLL_VIEW, ids.KILL_SWITCH_VIEW)]

huge = st.integers(1_000, 12_000)  # up to ~200 KB once JSON- and form-encoded: under the size limit
huge = huge.flatmap(lambda n: st.sampled_from(["x" * n, "\u2603" * n, "\U0001f511" * n]))
text = st.one_of(st.text(max_size=40), huge, st.sampled_from(["", " ", "\ud800", "\x00", "KK-NOPE", "123456"]))
leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text)
junk = st.recursive(leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=4), max_leaves=12)
maybe = st.one_of(junk, st.just(...))  # ... = leave the field out
users = st.one_of(st.builds(lambda i, n: {"id": i, "username": n, "name": n, "team_id": "T0KUKEY"},
                            st.sampled_from([OUTSIDER, "U0NOBODY1", "", "u0lower"]) | junk, text | junk), junk)
urls = st.sampled_from(["http://127.0.0.1:9/x", "", "not a url"]) | junk
EVE = {"id": OUTSIDER, "username": "eve", "name": "eve", "team_id": "T0KUKEY"}
REPLY = "http://127.0.0.1:9/x"  # nothing listens there: a reply fails after the ack


def _fill(base: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in fields.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] = maybe) -> st.SearchStrategy[Any]:
    """`good` nine times in ten, else `bad` (junk or left out): about half the payloads get past the shape
    check and reach a listener, where junk deeper inside must be harmless too."""
    return st.integers(0, 9).flatmap(lambda i: good if i else bad)


@st.composite
def block_actions(draw: st.DrawFn) -> dict[str, Any]:
    left_out = st.just(...)
    action = _fill({"action_id": draw(mostly(st.sampled_from(ACTIONS), text)), "block_id": "b",
                    "type": "button"},
                   {"value": draw(mostly(st.sampled_from(["KK-NOPE", ""]) | text)),
                    "action_ts": draw(mostly(left_out)), "text": draw(maybe)})
    return _fill({"type": "block_actions"}, {
        "user": draw(mostly(st.just(EVE), users)), "actions": draw(mostly(st.just([action]),
                                                                        st.lists(st.just(action) | junk))),
        "trigger_id": draw(mostly(st.just("1.2.3"))), "response_url": draw(mostly(st.just(REPLY), urls)),
        "team": draw(mostly(st.just({"id": "T0KUKEY"}))), "channel": draw(mostly(st.just({"id": APPROVALS}))),
        "container": draw(mostly(st.just({"type": "message", "message_ts": "1.1"}))),
        "message": draw(mostly(left_out)), "state": draw(mostly(left_out)), draw(st.text(max_size=10)): draw(junk)})


@st.composite
def view_submissions(draw: st.DrawFn) -> dict[str, Any]:
    blocks = st.sampled_from([ids.CODE_BLOCK, ids.REASON_BLOCK, ids.SUB_BLOCK, ids.PERMS_BLOCK, ids.EXPIRE_BLOCK])
    values = draw(st.dictionaries(blocks | text, junk, max_size=4))
    metadata = draw(mostly(st.builds(json.dumps, st.dictionaries(st.sampled_from(["r", "u", "t", "c", "d"]), junk,
                                                                 max_size=4)), text | junk))
    view = _fill({"id": "V0NOPE"}, {
        "type": draw(mostly(st.just("modal"))), "callback_id": draw(mostly(st.sampled_from(VIEWS))),
        "private_metadata": metadata, "state": draw(mostly(st.just({"values": values}), junk))})
    return _fill({"type": draw(st.sampled_from(["view_submission", "view_submission", "view_closed"]))}, {
        "user": draw(mostly(st.just(EVE), users)), "view": draw(mostly(st.just(view), junk)),
        "trigger_id": draw(mostly(st.just("1.2.3"))), "response_urls": draw(mostly(st.just(...))),
        "team": draw(mostly(st.just({"id": "T0KUKEY"}))), draw(st.text(max_size=10)): draw(junk)})


@st.composite
def commands(draw: st.DrawFn) -> bytes:
    fields = {"token": "t", "team_id": "T0KUKEY", "channel_id": TRADING, "user_id": OUTSIDER, "user_name": "eve",
              "command": "/kukey", "text": draw(text), "trigger_id": "1.2.3", "response_url": "http://127.0.0.1:9/x"}
    for key in draw(st.lists(st.sampled_from(sorted(fields)), max_size=3)):
        fields[key] = draw(st.sampled_from(["", "\u2603", "x" * 300]) | st.text(max_size=20))
    fields.update(draw(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3)))
    return urlencode(fields, errors="surrogatepass").encode()  # a lone surrogate as its UTF-8-like bytes


class Probe:
    """Sends signed bodies and checks the answers; keeps the baseline to compare the state against."""

    def __init__(self, world: KukeyWorld) -> None:
        self.world = world
        self.before = snapshot(world)
        self.sent = 0
        self.slowest = 0.0
        self.statuses: dict[int, int] = {}

    def send(self, body: bytes) -> None:
        started = time.monotonic()
        if len(body) > MAX_BODY:  # refused from its Content-Length, unread: writing it all would break the pipe
            status = exchange(self.world.driver.url or "", f"POST /slack/events HTTP/1.1\nHost: x\n"
                              f"Content-Length: {len(body)}")
        else:
            status = send_signed(self.world.driver, body).status
        self.slowest = max(self.slowest, time.monotonic() - started)
        self.sent += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        assert status < 500, body[:300]
        assert changes(self.before, snapshot(self.world)) == {}, (body[:300], audit_actions(self.world)[-3:])

    def finish(self) -> None:
        self.world.stop_bot()  # drain what listeners left to the worker, then look once more
        after = snapshot(self.world)
        assert audit_actions(self.world, since=self.before["audit"][0]) == ["kukey.stopped"]
        assert changes(self.before, after).keys() <= {"audit"}
        print(f"\n{self.sent} signed malformed payloads: answers {dict(sorted(self.statuses.items()))}, "
              f"slowest {self.slowest:.2f} s")


@pytest.fixture
def probe(story: Story) -> Probe:
    story.request("create alpha-trading perms=Spot ips=203.0.113.5 expire=30 market making")
    story.w.wait(lambda: posted(story.w), what="the post recorded")
    return Probe(story.w)


def test_random_block_actions_never_500(probe: Probe) -> None:
    """Signed block_actions of random shape (kukey's action ids with junk around them) never get a 500 and
    change nothing."""

    @SETTINGS
    @given(payload=block_actions())
    def check(payload: dict[str, Any]) -> None:
        probe.send(urlencode({"payload": json.dumps(payload)}).encode())

    check()
    probe.finish()


def test_random_view_submissions_never_500(probe: Probe) -> None:
    """Signed view_submission / view_closed payloads of random shape (every kukey callback id, junk state and
    metadata) never get a 500 and change nothing."""

    @SETTINGS
    @given(payload=view_submissions())
    def check(payload: dict[str, Any]) -> None:
        probe.send(urlencode({"payload": json.dumps(payload)}).encode())

    check()
    probe.finish()


def test_random_slash_commands_never_500(probe: Probe) -> None:
    """Signed /kukey commands with random text (any unicode, huge) and random or missing fields never get a
    500 and change nothing."""

    @SETTINGS
    @given(body=commands())
    def check(body: bytes) -> None:
        probe.send(body)

    check()
    probe.finish()
