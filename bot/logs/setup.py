"""`configure_logging`: every log record of every logger becomes one redacted JSON object per line.

The root logger gets one handler whose formatter is structlog's ProcessorFormatter, so records from
stdlib loggers (kukey's, slack_sdk's, slack_bolt's, httpx's, anything else) and from structlog loggers
go through the same processors:

    merge the context (request_id) -> level, logger, ts -> the record's extra fields
    -> exception and stack as text -> msg -> the Redactor -> ts, level, logger, msg first -> JSON

The handler replaces the root's others: a handler added beside it would write lines the Redactor never
saw. A line that cannot be formatted is written as a short JSON error, never as the raw record.

httpx writes a line at INFO for every request ("HTTP Request: POST <url> ..."): beside kukey's own line for a
KuCoin call ("kucoin GET /path -> 200000 (HTTP 200) in 12 ms", with the KuCoin code) it doubles the lines, and
for a response_url post it says nothing kukey's own lines do not. So below DEBUG the `httpx` and `httpcore`
loggers pass only their warnings (and worse); at DEBUG they pass everything. Either way their records take
the same path through the one handler and its Redactor.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

from bot.logs.redaction import Redactor

_LEFT_BY_OTHER_FORMATTERS = ("message", "asctime")
_PER_REQUEST_LOGGERS = ("httpx", "httpcore")  # a line per HTTP request: only at DEBUG (see above)
_LEADING = ("ts", "level", "logger", "msg", "request_id")
# What every line gets, whether a stdlib or a structlog logger wrote it.
_SHARED: tuple[Processor, ...] = (
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
)


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None, *,
                      redactor: Redactor | None = None) -> logging.Handler:
    """Send every log record to `stream` (default stderr) as JSON lines scrubbed by `redactor` (default:
    secret shapes only, no configured values). Replaces the root's handlers; returns the new one."""
    handler = JsonLineHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(_json_formatter(redactor or Redactor()))
    handler.addFilter(_render_mismatched_arguments)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    _quiet_per_request_loggers(root.level)
    structlog.configure(  # structlog loggers hand their events to the same handler
        processors=[structlog.stdlib.filter_by_level, *_SHARED, structlog.processors.StackInfoRenderer(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    return handler


def _json_formatter(redactor: Redactor) -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder()],  # a stdlib record's extra fields
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _tidy,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("msg"),
            redactor,
            _leading_fields_first,
            structlog.processors.JSONRenderer(default=str),
        ],
    )


def _quiet_per_request_loggers(level: int) -> None:
    """httpx's and httpcore's loggers at WARNING (or `level`, if higher) unless `level` is DEBUG."""
    for name in _PER_REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if level <= logging.DEBUG else max(logging.WARNING, level))


class JsonLineHandler(logging.StreamHandler[TextIO]):
    """A stream handler that reports its own failures as one JSON line, without the record's arguments
    (logging's default prints them raw to stderr, where they would escape the Redactor)."""

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[0]
        line = {"level": "error", "logger": "kukey.logs", "msg": "a log line could not be written",
                "from": record.name, "error": getattr(error, "__name__", "?")}
        try:
            self.stream.write(json.dumps(line) + self.terminator)
            self.flush()
        except Exception:  # noqa: S110 - the stream itself is broken; there is nowhere left to report it
            pass


def _render_mismatched_arguments(record: logging.LogRecord) -> bool:
    """A call whose arguments do not match its format string still gets its line (and raises nothing)."""
    if record.args and isinstance(record.msg, str):
        try:
            record.getMessage()
        except (TypeError, ValueError, KeyError):
            record.msg, record.args = f"{record.msg} (log arguments did not match the format)", None
    return True


def _tidy(logger: object, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A stdlib record's stack text becomes `stack`; an unset request id and fields other formatters cached
    on the record are dropped."""
    for name in _LEFT_BY_OTHER_FORMATTERS:
        event_dict.pop(name, None)
    if isinstance(event_dict.get("stack_info"), str):
        event_dict["stack"] = event_dict.pop("stack_info")
    if event_dict.get("request_id", "") is None:
        del event_dict["request_id"]
    return event_dict


def _leading_fields_first(logger: object, method_name: str, event_dict: MutableMapping[str, Any]
                          ) -> dict[str, Any]:
    """ts, level, logger, msg and request_id open every line, in that order; the other fields follow."""
    return {**{k: event_dict[k] for k in _LEADING if k in event_dict}, **event_dict}
