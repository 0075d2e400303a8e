"""Structured logs: one JSON object per line for every logger, scrubbed of secrets, with the request id.

    configure_logging(level, stream, redactor=...)  setup.py: the root handler (structlog ProcessorFormatter)
    Redactor.for_settings(settings)                 redaction.py: what lines must never hold, and its mask
    bound_request(request_id)                       context.py: the request id, through contextvars
"""

from bot.logs.context import bound_request
from bot.logs.redaction import MASK, Redactor
from bot.logs.setup import configure_logging

__all__ = ["MASK", "Redactor", "bound_request", "configure_logging"]
