"""Capture what kukey logs: configure_logging into a buffer, with the root logger and structlog put back."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from bot.logs import Redactor, configure_logging


@contextmanager
def saved_logging() -> Iterator[None]:
    """Put the root logger's handlers and level, httpx's and httpcore's levels, and structlog's configuration,
    back on leaving."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    libraries = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    try:
        yield
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in libraries.items():
            logging.getLogger(name).setLevel(level)
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()


@contextmanager
def captured_logs(level: str = "DEBUG", redactor: Redactor | None = None) -> Iterator[io.StringIO]:
    """Every log record at `level` and above, as kukey writes it, into the yielded buffer."""
    with saved_logging():
        buffer = io.StringIO()
        configure_logging(level, stream=buffer, redactor=redactor)
        yield buffer


def json_lines(text: str) -> list[dict[str, object]]:
    """Each line parsed as one JSON object; a line that is not one fails the caller's test."""
    parsed = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(line, dict) for line in parsed), "a log line is JSON but not an object"
    return parsed
