"""`kukey run` as a real process, reached the way Slack reaches it: HTTP with signatures, or Socket Mode."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from bot.domain.clock import SystemClock
from bot.ops.server import IDLE_TIMEOUT_S, MAX_BODY
from kukey_sandbox.slack.driver import SlackDriver
from kukey_sandbox.world import REQUESTER, TRADING, KukeyWorld
from tests.hardening.helpers import exchange


@pytest.fixture
def bare_world(tmp_path: Path) -> Iterator[KukeyWorld]:
    # The bot runs in its own process on the real clock, so KuCoin's clock must be real too (kukey run's
    # preflight fails when they are more than 5 s apart).
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock()) as w:
        yield w


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def _wait_line(proc: subprocess.Popen[str], pattern: str, timeout: float = 20.0) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"`kukey run` never printed {pattern!r}; it printed:\n{''.join(seen)}")


def test_http_mode_answers_signed_help_and_refuses_forgeries(bare_world: KukeyWorld) -> None:
    """`kukey run --http` acks a signed /kukey help within Slack's deadline, and answers 401 to a bad
    signature and to a timestamp more than 5 minutes off."""
    proc = bare_world.spawn("run", "--http", "--host", "127.0.0.1", "--port", "0")
    try:
        url = _wait_line(proc, r"listening on (http://\S+/slack/events)").group(1)
        driver = SlackDriver(bare_world.fake, url=url)
        started = time.monotonic()
        ack = driver.slash(REQUESTER, TRADING, "help")
        assert time.monotonic() - started < 3.0
        assert ack.ok and "/kukey create" in ack.message()["text"]
        body = b"token=x&team_id=T1&user_id=U0ALICE01&command=%2Fkukey&text=help"
        forged = dict(driver.signed_headers(body))
        forged["X-Slack-Signature"] = "v0=" + "0" * 64
        assert driver.send_raw(body, forged).status == 401
        stale = driver.signed_headers(body, timestamp=int(time.time()) - 301)
        assert driver.send_raw(body, stale).status == 401
        future = driver.signed_headers(body, timestamp=int(time.time()) + 301)
        assert driver.send_raw(body, future).status == 401
    finally:
        _stop(proc)


def test_http_mode_is_served_by_the_production_server(bare_world: KukeyWorld) -> None:
    """`kukey run --http` is served by the embedded production server (it signs its answers "kukey"): it acks
    a signed command while another client stalls mid-body, drops that client after the idle timeout without
    an answer, refuses an oversized or chunked body at once (413, 411), and serves /readyz and /metrics on
    KUKEY_METRICS_PORT only."""
    proc = bare_world.spawn("run", "--http", "--host", "127.0.0.1", "--port", "0",
                            extra_env={"KUKEY_METRICS_PORT": "0"})
    try:
        url = _wait_line(proc, r"listening on (http://\S+/slack/events)").group(1)
        ops_port = _wait_line(proc, r"ops endpoints on port (\d+)").group(1)
        ops = f"http://127.0.0.1:{ops_port}"
        driver = SlackDriver(bare_world.fake, url=url)
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=IDLE_TIMEOUT_S + 10) as stalled:
            stalled.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\ntoken=")
            body = urlencode({"team_id": "T0KUKEY", "channel_id": TRADING, "user_id": REQUESTER, "text": "help",
                              "command": "/kukey", "trigger_id": "1.2.3", "response_url": "http://127.0.0.1:9/x"})
            started = time.monotonic()
            answer = httpx.post(url, content=body, headers=driver.signed_headers(body.encode()))
            assert answer.status_code == 200 and time.monotonic() - started < 3.0
            assert answer.headers["server"] == "kukey"
            assert stalled.recv(1024) == b""  # closed after IDLE_TIMEOUT_S without a byte, and no answer
        post = "POST /slack/events HTTP/1.1\nHost: x\n"
        assert exchange(url, post + f"Content-Length: {MAX_BODY + 1}") == 413  # refused before the body is sent
        assert exchange(url, post + "Transfer-Encoding: chunked") == 411
        assert httpx.get(f"{ops}/readyz").text == "ok\n"
        assert "kukey_build_info" in httpx.get(f"{ops}/metrics").text
        assert httpx.get(url.replace("/slack/events", "/metrics")).status_code == 404
    finally:
        _stop(proc)


def test_socket_mode_answers_help(bare_world: KukeyWorld) -> None:
    """`kukey run` (Socket Mode) connects to the WebSocket URL apps.connections.open gives and acks help."""
    proc = bare_world.spawn("run")
    try:
        _wait_line(proc, r"connected to Slack \(Socket Mode\)")
        driver = SlackDriver(bare_world.fake, socket=True)
        ack = bare_world.fake.wait_for(lambda: _try(driver), timeout=15, what="socket client connected")
        assert "/kukey create" in ack.message()["text"]
        assert bare_world.fake.unacked() == []
    finally:
        _stop(proc)


def _try(driver: SlackDriver) -> object:
    try:
        return driver.slash(REQUESTER, TRADING, "help")
    except AssertionError:
        return None


def test_run_refuses_bad_settings_with_one_line_per_problem(bare_world: KukeyWorld) -> None:
    """Missing and malformed settings are each named on their own line; no traceback."""
    proc = bare_world.spawn("run", "--http", extra_env={"KUKEY_MASTER_KEY": "not-base64!",
                                                        "SLACK_SIGNING_SECRET": "", "KUCOIN_API_URL": "ftp://x"})
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 2
    assert "Traceback" not in out
    for name in ("KUKEY_MASTER_KEY", "SLACK_SIGNING_SECRET", "KUCOIN_API_URL"):
        assert sum(name in line for line in out.splitlines()) == 1, out
