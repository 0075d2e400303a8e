"""After whole lifecycles logged at DEBUG, no secret issued or configured during the test is anywhere it
must not be: the database files, any log line of any logger (in process, and from a real `kukey run`
process), or a non-ephemeral Slack message."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.config import Settings
from bot.domain.clock import SystemClock
from bot.logs import MASK, Redactor
from kukey_sandbox.slack.driver import SlackDriver
from kukey_sandbox.world import APPROVALS, APPROVER, APPROVER2, INCIDENT, REQUESTER, RESPONDER, KukeyWorld, Story
from tests.logs.capture import captured_logs, json_lines

CONFIGURED = ("KUKEY_MASTER_KEY", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET",
              "KUCOIN_API_SECRET", "KUCOIN_API_PASSPHRASE")


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[tuple[KukeyWorld, io.StringIO]]:
    """A world whose bot runs in this process, every logger captured at DEBUG as `kukey run` configures it."""
    with KukeyWorld(home=tmp_path, run_bot=False) as world, \
            captured_logs("DEBUG", Redactor.for_settings(Settings.from_env(world.env()))) as stream:
        world.start_bot()
        yield world, stream


def _revealed(world: KukeyWorld) -> set[str]:
    """Every API secret and passphrase shown to the requester."""
    found: set[str] = set()
    for e in world.fake.ephemerals(REQUESTER) + world.fake.messages(world.fake.dm(REQUESTER)):
        for label in ("Secret", "Passphrase"):
            found |= {m.group(1) for m in re.finditer(rf"{label}:\*? `([^`]+)`", e.content)}
    return found


def _forbidden(world: KukeyWorld) -> dict[str, set[str]]:
    """What no log line may hold, by kind; a response URL counts by its last segment, which works like a
    password even without the rest of the URL."""
    env = world.env()
    return {
        "configured secret": {env[name] for name in CONFIGURED},
        "response url": {u.url.rsplit("/", 1)[1] for u in world.fake.world.response_urls.values()},
        "trigger id": set(world.fake.world.triggers),
        "TOTP seed": set(world.seeds.values()),
        "revealed API secret or passphrase": _revealed(world),
        "Slack verification token": {world.fake.verification_token},
    }


def _assert_no_leak(world: KukeyWorld, lines: list[dict[str, object]]) -> None:
    forbidden = _forbidden(world)
    assert all(forbidden.values()), {kind: len(values) for kind, values in forbidden.items()}
    assert len([s for s in forbidden["revealed API secret or passphrase"] if "-" in s]) >= 1
    for line in lines:
        text = json.dumps({k: v for k, v in line.items() if k != "ts"})
        for kind, values in forbidden.items():
            assert not any(value in text for value in values), f"a {kind} is in a log line of {line['logger']}"
        for code in world.codes:  # not after a dot: 6 digits of a message ts are not a code
            assert not re.search(rf"(?<![\d.]){code}(?!\d)", text), f"a TOTP code is in a log line: {text}"


def test_no_secret_in_database_logs_or_public_messages(logged: tuple[KukeyWorld, io.StringIO]) -> None:
    """Create, rotate, revoke and enrollments leave no secret, passphrase, seed, code, response URL, trigger
    id or configured secret in the SQLite files (main and WAL, raw bytes), any log line (each one JSON
    object, the libraries' DEBUG lines included), or any non-ephemeral Slack message."""
    world, stream = logged
    for user in (REQUESTER, APPROVER, APPROVER2, RESPONDER):
        world.enroll(user)
    story = Story(world)
    first = story.create_key()
    post = story.request(f"rotate alpha-trading {first} rotation")
    assert not story.approve(post, APPROVER2).errors
    second = story.reveal()
    world.wait(lambda: [k["api_key"] for k in world.sandbox.keys("alpha-trading")] == [second], what="rotated")
    world.driver.slash(RESPONDER, INCIDENT, "revoke alpha-trading all")
    assert not world.submit(RESPONDER, {"code": world.code(RESPONDER)}).errors
    world.wait(lambda: world.sandbox.keys("alpha-trading") == [], what="revoked")
    world.stop_bot()

    lines = json_lines(stream.getvalue())
    loggers = {str(line["logger"]) for line in lines}
    assert "httpx" in loggers and any(name.startswith("slack_sdk") for name in loggers), loggers
    assert any(line["logger"] == "httpx" and MASK in str(line["msg"]) for line in lines), "no response_url post"
    _assert_no_leak(world, lines)
    revealed = _revealed(world)
    raw = b"".join(p.read_bytes() for p in world.home.glob("kukey.db*"))
    assert not any(value.encode() in raw for value in revealed), "a secret is in the SQLite files"
    public = "\n".join(_public_messages(world))
    assert not any(value in public for value in revealed | set(world.seeds.values()) | set(world.codes))
    assert APPROVALS and first in public  # the public record names keys, never their secrets


def test_a_kukey_run_process_logs_no_secret(tmp_path: Path) -> None:
    """`kukey run --http` at DEBUG, through enrollment, request, approval with TOTP, reveal and an incident
    revoke, writes only JSON lines, and none holds a configured secret, a response URL, a trigger id, a
    seed, a code, or the revealed API secret and passphrase."""
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock()) as world, _kukey_run(world) as output:
        for user in (REQUESTER, APPROVER, RESPONDER):
            world.enroll(user)
        Story(world).create_key()
        world.driver.slash(RESPONDER, INCIDENT, "revoke alpha-trading all")
        assert not world.submit(RESPONDER, {"code": world.code(RESPONDER)}).errors
        world.wait(lambda: world.sandbox.keys("alpha-trading") == [], what="revoked")
    logged = [line for line in output if not line.startswith("kukey: ")]
    lines = json_lines("".join(logged))
    loggers = {str(line["logger"]) for line in lines}
    assert "httpx" in loggers and any(name.startswith("slack_sdk") for name in loggers), loggers
    _assert_no_leak(world, lines)


@contextmanager
def _kukey_run(world: KukeyWorld) -> Iterator[list[str]]:
    """`kukey run --http` at DEBUG against the world; yields its output lines, complete once the block ends
    (the process is stopped with SIGTERM, as an orchestrator stops it)."""
    process = world.spawn("run", "--http", "--host", "127.0.0.1", "--port", "0",
                          extra_env={"KUKEY_LOG_LEVEL": "DEBUG"})
    assert process.stdout is not None
    output: list[str] = []
    reader = threading.Thread(target=output.extend, args=(process.stdout,))
    try:
        for line in process.stdout:
            output.append(line)
            if match := re.search(r"listening on (http://\S+/slack/events)", line):
                world.driver = SlackDriver(world.fake, url=match.group(1))
                break
        assert world.driver is not None, "`kukey run` did not start:\n" + "".join(output)
        reader.start()
        yield output
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if reader.is_alive():
            reader.join(timeout=10)
        process.stdout.close()


def _public_messages(world: KukeyWorld) -> list[str]:
    texts = []
    for channel in world.fake.world.channels.values():
        for msg in world.fake.messages(channel.id):
            texts.append(msg.content)
            texts.extend(r.content for r in world.fake.thread(channel.id, msg.ts))
    return texts
