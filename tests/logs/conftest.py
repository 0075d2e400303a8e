"""A log stream per test: configure_logging into a buffer, and the root logger and structlog put back after."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest

from bot.logs import Redactor
from tests.logs.capture import captured_logs, json_lines, saved_logging

Lines = Callable[[], list[dict[str, object]]]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger's handlers and level, and structlog's configuration, back after the test."""
    with saved_logging():
        yield


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Every log record at DEBUG and above, as kukey writes it, into this buffer."""
    with captured_logs("DEBUG", Redactor(["my-Master-Passphrase-1234"])) as buffer:
        yield buffer


@pytest.fixture
def lines(stream: io.StringIO) -> Lines:
    """The buffer's lines, each parsed as one JSON object (a line that is not one fails the test)."""
    return lambda: json_lines(stream.getvalue())
