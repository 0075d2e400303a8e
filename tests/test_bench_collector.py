"""bench.collector: the bench process (the Slack fake and the KuCoin sandbox live in it) runs no automatic
garbage collection while a phase measures kukey, and collects what piled up once the phase is over."""

from __future__ import annotations

import gc
import weakref

from bench.collector import held


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_no_automatic_collection_while_held_and_the_garbage_goes_afterwards() -> None:
    assert gc.isenabled()
    with held() as seen:
        assert not gc.isenabled()
        first = _Node()
        gone = weakref.ref(first)
        del first
        garbage = [_Node() for _ in range(50_000)]  # far past generation 0's threshold (700 allocations)
        del garbage
        assert gone() is not None and seen["collections"] == 0  # nothing collected it: no automatic pass ran
    assert gc.isenabled() and gone() is None  # collected on the way out
    assert seen["collections"] == 0 and seen["peak_rss_mb"] > 0
    assert gc.get_freeze_count() == 0  # what was frozen for the phase is back in the collector's care


def test_a_collection_someone_asks_for_is_counted() -> None:
    with held() as seen:
        gc.collect()
    assert seen["collections"] == 1 and seen["longest_ms"] >= 0


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with held():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
