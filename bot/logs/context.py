"""The request a piece of work belongs to, carried by contextvars into every log line it writes.

structlog keeps bound values in contextvars, so a thread pool that runs work in a copy of the caller's
context (`contextvars.copy_context().run`, as `Deps.later` does) logs the caller's request id too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import structlog


@contextmanager
def bound_request(request_id: str | None) -> Iterator[None]:
    """Within this block, log lines carry `request_id` (unless the call passes its own); None: no id."""
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        yield

