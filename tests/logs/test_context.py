"""The request id bound with `bound_request` is on every line written inside the block, in worker
threads too when they run in a copy of the caller's context."""

from __future__ import annotations

import contextvars
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from bot.logs import bound_request
from tests.logs.conftest import Lines

LOGGER = logging.getLogger("kukey.test")


def test_log_lines_carry_the_bound_request_id(lines: Lines) -> None:
    """Inside `bound_request`, every JSON log line names the request it belongs to; outside, none does;
    an explicit request_id wins, and binding None inside a block removes the id."""
    with bound_request("KK-ABCDEFGH"):
        LOGGER.info("inside")
        LOGGER.info("explicit", extra={"request_id": "KK-OTHER000"})
        with bound_request(None):
            LOGGER.info("unbound")
        LOGGER.info("again")
    LOGGER.info("outside")
    assert [(line["msg"], line.get("request_id")) for line in lines()] == [
        ("inside", "KK-ABCDEFGH"), ("explicit", "KK-OTHER000"), ("unbound", None), ("again", "KK-ABCDEFGH"),
        ("outside", None)]


def test_worker_threads_running_a_copied_context_carry_the_request_id(lines: Lines) -> None:
    """Work handed to a pool in a copy of the caller's context (as Deps.later does) logs the caller's request
    id; a thread started without the copy does not."""
    with ThreadPoolExecutor(max_workers=1) as pool, bound_request("KK-WORKER01"):
        context = contextvars.copy_context()
        pool.submit(context.run, LOGGER.info, "in the worker").result(timeout=10)
        bare = threading.Thread(target=LOGGER.info, args=("in a bare thread",))
        bare.start()
        bare.join(timeout=10)
    assert [(line["msg"], line.get("request_id")) for line in lines()] == [
        ("in the worker", "KK-WORKER01"), ("in a bare thread", None)]
