"""What kukey told a key's owner (bot.storage.reminders), on SQLite and on PostgreSQL: each reminder is
recorded once per key and reason, even when many engines race for it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from bot.domain.reminders import Reason
from bot.storage import reminders
from bot.storage.db import make_engine, session_scope
from tests.replicas.conftest import at_once

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = "0123456789abcdef01234567"
RACERS = 4


def remember(engine: Engine, reason: Reason, api_key: str = KEY) -> bool:
    with session_scope(engine) as s:
        return reminders.remember(s, api_key=api_key, reason=reason, owner="U0ALICE01", at=NOW)


def test_each_reason_is_recorded_once_per_key(engine: Engine) -> None:
    """The first call for a key and reason records it; a second one does not; another reason or key does."""
    assert remember(engine, Reason.EXPIRY)
    assert not remember(engine, Reason.EXPIRY)
    assert remember(engine, Reason.ROTATION)
    assert remember(engine, Reason.EXPIRY, api_key="fedcba9876543210fedcba98")


def test_engines_racing_for_one_reminder_record_it_once(engine: Engine) -> None:
    """Engines of several replicas recording the same reminder at once: exactly one of them made it."""
    engines = [make_engine(engine.url.render_as_string(hide_password=False)) for _ in range(RACERS)]
    try:
        won = at_once([lambda e=e: remember(e, Reason.ROTATION) for e in engines])
    finally:
        for e in engines:
            e.dispose()
    assert sorted(won) == [False] * (RACERS - 1) + [True]
