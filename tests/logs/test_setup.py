"""configure_logging: every logger's records, the libraries' included, become one redacted JSON object
per line on the one root handler."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog
from slack_sdk import WebClient

from bot.logs import MASK, Redactor, configure_logging
from kukey_sandbox.slack.fake import SlackFake
from tests.logs.capture import captured_logs, json_lines
from tests.logs.conftest import Lines

LOGGER = logging.getLogger("kukey.test")


@pytest.fixture
def fake() -> Iterator[SlackFake]:
    """The Slack fake on 127.0.0.1, with one person in one channel."""
    with SlackFake().start() as slack:
        slack.add_user("U0ALICE01", "alice")
        slack.add_channel("C0TRADING", "trading", members=["U0ALICE01"])
        yield slack


def test_each_record_is_one_json_object_with_extra_fields(lines: Lines) -> None:
    """A record becomes one line of JSON opening with ts, level, logger, msg, then the extra fields."""
    LOGGER.info("request %s approved", "KK-1", extra={"request_id": "KK-1", "approvals": 2})
    (line,) = lines()
    assert list(line)[:5] == ["ts", "level", "logger", "msg", "request_id"]
    assert {k: line[k] for k in ("level", "logger", "msg", "request_id", "approvals")} == {
        "level": "info", "logger": "kukey.test", "msg": "request KK-1 approved", "request_id": "KK-1",
        "approvals": 2}
    assert str(line["ts"]).endswith("Z")


def test_httpx_request_line_to_a_response_url_is_redacted(lines: Lines, fake: SlackFake) -> None:
    """httpx logs each request URL at INFO; a POST to a response URL shows up as JSON with the URL masked."""
    url = fake.world.issue_response_url(fake.base_url, "U0ALICE01", "C0TRADING", None).url
    with httpx.Client() as client:
        assert client.post(url, json={"text": "hi"}).status_code == 200
    (line,) = [line for line in lines() if line["logger"] == "httpx"]
    assert line["level"] == "info" and str(line["msg"]).startswith(f"HTTP Request: POST {MASK}")
    assert url.rsplit("/", 1)[1] not in str(lines())


def test_below_debug_httpx_writes_no_line_per_request_and_its_warnings_are_redacted(fake: SlackFake) -> None:
    """At INFO a POST to a response URL writes no httpx or httpcore line, while a warning of httpx's logger
    still comes out as JSON with the response URL masked."""
    url = fake.world.issue_response_url(fake.base_url, "U0ALICE01", "C0TRADING", None).url
    with captured_logs("INFO", Redactor()) as stream:
        with httpx.Client() as client:
            assert client.post(url, json={"text": "hi"}).status_code == 200
        logging.getLogger("httpx").warning("retrying %s", url)
        LOGGER.info("kukey's own line")
    lines = json_lines(stream.getvalue())
    assert [(line["logger"], line["level"]) for line in lines] == [("httpx", "warning"), ("kukey.test", "info")]
    assert lines[0]["msg"] == f"retrying {MASK}" and url.rsplit("/", 1)[1] not in stream.getvalue()


@pytest.mark.parametrize(("level", "httpx_level"), [("DEBUG", logging.NOTSET), ("INFO", logging.WARNING),
                                                     ("WARNING", logging.WARNING), ("ERROR", logging.ERROR)])
def test_httpx_and_httpcore_pass_only_warnings_unless_at_debug(restore_logging: None, level: str,
                                                                httpx_level: int) -> None:
    """httpx's and httpcore's loggers follow the configured level, but never pass less than a warning
    unless it is DEBUG."""
    configure_logging(level, stream=io.StringIO())
    assert [logging.getLogger(name).level for name in ("httpx", "httpcore")] == [httpx_level, httpx_level]


def test_slack_sdk_debug_lines_are_json_without_trigger_id_or_token(lines: Lines, fake: SlackFake) -> None:
    """slack_sdk's DEBUG lines (the request URL and body, the response) are JSON objects, and the trigger
    id in the body and the bot token are masked."""
    trigger = fake.world.issue_trigger("U0ALICE01")
    client = WebClient(base_url=fake.api_url, token=fake.bot_token)
    client.views_open(trigger_id=trigger, view={"type": "modal", "title": {"type": "plain_text", "text": "x"},
                                                "blocks": []})
    sdk = [line for line in lines() if str(line["logger"]).startswith("slack_sdk")]
    assert any("views.open" in str(line["msg"]) for line in sdk)
    assert trigger not in str(lines()) and fake.bot_token not in str(lines())


def test_every_logger_writes_json_through_the_one_root_handler(stream: io.StringIO, lines: Lines) -> None:
    """Records of any stdlib logger (here slack_bolt's and waitress's names) and of a structlog logger are
    JSON lines on the same stream, redacted alike."""
    logging.getLogger("slack_bolt.App").debug("body: token=%s", "opaque-verification")
    logging.getLogger("waitress").info("serving on %s", "http://127.0.0.1:8080")
    structlog.get_logger("kukey.native").info("bound", response_url="https://hooks.slack.com/x", n=1)
    bolt, waitress, native = lines()
    assert (bolt["logger"], bolt["msg"]) == ("slack_bolt.App", f"body: token={MASK}")
    assert waitress["logger"] == "waitress"
    assert (native["logger"], native["msg"], native["response_url"], native["n"]) == ("kukey.native", "bound",
                                                                                      MASK, 1)


def test_configure_logging_leaves_one_handler_on_the_root(restore_logging: None) -> None:
    """configure_logging replaces the root's handlers, its own of an earlier call included: no other handler
    writes a line the redactor has not seen, and no line is written twice."""
    root = logging.getLogger()
    earlier, first, second = io.StringIO(), io.StringIO(), io.StringIO()
    root.addHandler(logging.StreamHandler(earlier))
    configure_logging("INFO", stream=first)
    handler = configure_logging("INFO", stream=second)
    LOGGER.info("token %s", "xoxb-1111-2222-abcdefabcdef")
    assert root.handlers == [handler]
    assert earlier.getvalue() == first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1 and "xoxb-" not in second.getvalue()


def test_a_broken_format_string_does_not_break_the_caller(lines: Lines) -> None:
    """A log call whose arguments do not match its format is still written and raises nothing."""
    LOGGER.info("two %s %s", "only-one")
    assert "log arguments did not match" in str(lines()[0]["msg"])


def test_a_line_that_cannot_be_written_never_shows_its_arguments(stream: io.StringIO, lines: Lines,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """When formatting fails (an extra field that cannot be turned into text), one JSON error line stands in
    for the record, and the record's arguments appear nowhere (logging's default prints them to stderr)."""

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    LOGGER.info("posting to %s", "xoxb-9999-8888-argumenttoken", extra={"odd": Unprintable()})
    (line,) = lines()
    assert (line["msg"], line["from"], line["error"]) == ("a log line could not be written", "kukey.test",
                                                          "RuntimeError")
    captured = capsys.readouterr()
    assert "argumenttoken" not in stream.getvalue() + captured.err + captured.out
