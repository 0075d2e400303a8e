"""SQLite hands datetimes back without a zone; kukey stores UTC only, so re-attach it."""

from __future__ import annotations

from datetime import UTC, datetime


def aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def maybe_aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else aware(dt)


def fmt(dt: datetime | None) -> str:
    return "-" if dt is None else aware(dt).strftime("%Y-%m-%d %H:%M UTC")
