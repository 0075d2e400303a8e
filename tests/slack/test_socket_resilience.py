"""Socket Mode when Slack misbehaves the way it does: connections dropped without a close frame, Slack's
`disconnect` messages, envelopes spread over several connections. The real bot (KukeyWorld, Socket Mode)
against the Slack fake; each figure it measures is printed (`pytest -s`) for docs/reliability.md."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk import WebClient

from bot.config import Settings
from bot.slack.socket_link import EnvelopeHandler, Link
from kukey_sandbox.slack.driver import Ack, SlackDriver
from kukey_sandbox.slack.failures import SlackDriverError
from kukey_sandbox.world import REQUESTER, TRADING, KukeyWorld

ACK_IN_TIME = 2.5  # Slack gives up after 3 s; leave a margin
BURST = 10


def socket_world(home: Path, connections: int) -> KukeyWorld:
    """A KukeyWorld whose bot holds `connections` Socket Mode connections."""
    from bot.app import build

    world = KukeyWorld(home=home, run_bot=False)
    settings = Settings.from_env(world.env(), need=["kucoin", "master_key", "policy", "slack_socket"])
    world.bot = build(settings, clock=world.clock, scheduler_interval=world.scheduler_interval)
    world.bot.start_socket(connections=connections)
    world.driver = SlackDriver(world.fake, socket=True)
    return world


@pytest.fixture
def one(tmp_path: Path) -> Iterator[KukeyWorld]:
    with socket_world(tmp_path, connections=1) as world:
        yield world


@pytest.fixture
def two(tmp_path: Path) -> Iterator[KukeyWorld]:
    with socket_world(tmp_path, connections=2) as world:
        world.wait(lambda: world.fake.socket.connection_count == 2, what="two connections")
        yield world


def help_in_time(driver: SlackDriver) -> float:
    """Type /kukey help; returns the seconds until the ack, which must come in time and answer."""
    started = time.monotonic()
    ack: Ack = driver.slash(REQUESTER, TRADING, "help")
    took = time.monotonic() - started
    assert "/kukey create" in ack.message()["text"] and took < ACK_IN_TIME, (took, ack)
    return took


def answered(driver: SlackDriver) -> bool:
    try:
        help_in_time(driver)
    except SlackDriverError:  # no connection yet, or the envelope lost with a dying one
        return False
    return True


def metric(world: KukeyWorld, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(world.bot.metrics.render()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


@pytest.mark.parametrize("how", ["silent", "eof", "reset"])
def test_one_connection_dropped_without_a_close_frame_is_replaced_within_10_s(one: KukeyWorld, how: str) -> None:
    """With a single connection, after it dies without a close frame (silently, with a FIN, or with an RST) a
    new one is open and a /kukey command is answered within 10 s of the drop; the replacement is counted."""
    help_in_time(one.driver)
    dropped = time.monotonic()
    one.fake.socket.drop(how)
    one.wait(lambda: answered(one.driver), timeout=10, what="a command answered after the drop")
    took = time.monotonic() - dropped
    print(f"\n[figure] one connection, {how} drop -> next command answered after {took:.2f} s")
    assert took < 10
    reason = "closed" if how == "reset" else "stale"
    assert metric(one, "kukey_slack_reconnects_total", reason=reason) == 1
    assert metric(one, "kukey_slack_offline_seconds_total") > 0


def test_with_two_connections_a_drop_loses_nothing(two: KukeyWorld) -> None:
    """With two connections, right after one dies silently, 10 commands sent one after another and 10 at
    once are all acked in time on the other; the dead one is replaced, and there was never a moment
    without a live connection."""
    two.fake.socket.drop("silent")
    took = [help_in_time(two.driver) for _ in range(BURST)]
    with ThreadPoolExecutor(max_workers=BURST) as pool:
        took += list(pool.map(lambda _: help_in_time(two.driver), range(BURST)))
    print(f"\n[figure] two connections, one dropped: {len(took)} commands, 0 lost, slowest ack {max(took):.2f} s")
    two.wait(lambda: metric(two, "kukey_slack_reconnects_total", reason="stale") == 1, timeout=10,
             what="the dead connection replaced")
    two.wait(lambda: two.fake.socket.connection_count == 2, what="two connections again")
    assert [e for e in two.fake.envelopes() if not e.acked] == []
    assert metric(two, "kukey_slack_offline_seconds_total") == 0


@pytest.mark.parametrize("reason", ["refresh_requested", "warning", "link_disabled", "too_many_websockets"])
@pytest.mark.parametrize("connections", [1, 2])
def test_commands_right_after_a_disconnect_message_are_acked_in_time(tmp_path: Path, reason: str,
                                                                     connections: int) -> None:
    """Right after Slack's disconnect message (Slack closes those connections 1 s later), 10 commands one
    after another are each acked in time: the old connection keeps acking while its replacement opens
    (after too_many_websockets, only once no other connection is live)."""
    with socket_world(tmp_path, connections=connections) as world:
        world.wait(lambda: world.fake.socket.connection_count == connections, what="connected")
        world.fake.socket.disconnect(reason, close_after=1.0)
        took = [help_in_time(world.driver) for _ in range(BURST)]
        print(f"\n[figure] {connections} connection(s), disconnect {reason}: slowest of {BURST} acks "
              f"{max(took):.2f} s")
        if reason != "too_many_websockets" or connections == 1:
            world.wait(lambda: [told for _, told in world.fake.socket.connections()] == [False] * connections,
                       timeout=10, what="only new connections left")
            assert metric(world, "kukey_slack_reconnects_total", reason=reason) == connections
        assert [e for e in world.fake.envelopes() if not e.acked] == []


def test_a_connection_slack_asked_to_replace_is_closed_by_kukey_after_the_handoff(two: KukeyWorld) -> None:
    """When Slack asks for new connections but leaves the old ones open, kukey opens the new ones at once and
    closes the old ones itself after the handoff; commands in between are acked in time."""
    two.fake.socket.disconnect("refresh_requested")
    two.wait(lambda: len(two.fake.socket.connections()) == 4, timeout=5, what="both replacements open")
    help_in_time(two.driver)
    two.wait(lambda: [told for _, told in two.fake.socket.connections()] == [False, False], timeout=10,
             what="the old connections closed")
    help_in_time(two.driver)


def test_a_link_closes_though_its_session_runner_starts_again_during_the_close(one: KukeyWorld) -> None:
    """slack_sdk's session runner, starting to read the session again while a close waits to disconnect the
    socket, sets the session state's `terminated` back to False; the close still returns (slack_sdk's own
    close joined that runner forever: a CI run hung 120 s stopping a bot)."""
    starts: list[logging.LogRecord] = []

    class Starts(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "Starting to receive" in record.getMessage():  # slack_sdk's line as its runner reads a session
                starts.append(record)

    handler = Starts()
    logger = logging.getLogger("kukey.test.link")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        link = Link(app_token=one.fake.app_token, handler=EnvelopeHandler(one.bot.app, None), logger=logger,
                    web_client=WebClient(token=one.fake.bot_token, base_url=one.fake.api_url))
        link.connect()
        one.wait(lambda: starts, what="the runner reading the session")
        session = link.current_session
        assert session is not None
        with session.sock_send_lock:  # the close's disconnect waits here; the runner starts reading again
            closing = threading.Thread(target=link.close, daemon=True)
            closing.start()
            one.wait(lambda: len(starts) >= 2, what="the runner started again during the close")
        closing.join(10)
        assert not closing.is_alive()
    finally:
        logger.removeHandler(handler)
