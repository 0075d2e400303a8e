"""Each backend's options on the models, added when an engine for it is made (bot.storage.audit_schema)."""

from __future__ import annotations

import pytest
from sqlalchemy.schema import CreateIndex

from bot.storage.audit_schema import AuditEvent
from bot.storage.db import make_engine

PREDICATE = "WHERE action = 'audit.rekeyed'"


@pytest.mark.parametrize("url", ["sqlite:///unused.db", "postgresql+psycopg://kukey@127.0.0.1:1/kukey"])
def test_the_rekey_index_is_partial_for_the_engines_backend(url: str) -> None:
    """Once an engine is made, the model's rekey index has its WHERE in that engine's dialect, as migration
    0001 made it, though the models name no dialect's option themselves."""
    engine = make_engine(url)  # never connects: only its dialect is used
    (index,) = [i for i in AuditEvent.__table__.indexes if i.name == "audit_event_rekeys"]  # type: ignore[attr-defined]
    assert PREDICATE in str(CreateIndex(index).compile(dialect=engine.dialect))
