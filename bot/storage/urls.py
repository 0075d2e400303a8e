"""KUKEY_DATABASE_URL: the URLs kukey takes, the driver each one gets, and the form that is safe to show.

    sqlite:///PATH                                  the embedded default (one process or several on one host)
    postgresql+psycopg://USER:PASSWORD@HOST/DB      PostgreSQL through psycopg 3 (several replicas)
    postgresql://USER:PASSWORD@HOST/DB              the same; kukey picks the psycopg 3 driver

The URL may hold a password, so nothing but `masked(url)` is ever shown: not in a log line, an error or
`kukey doctor`'s output. SQLAlchemy's own parse errors quote the whole URL, so they are never passed on.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

SQLITE_PREFIX = "sqlite:///"
PSYCOPG = "postgresql+psycopg"
_POSTGRES_SCHEMES = {"postgresql", PSYCOPG}
_FORMS = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST[:PORT]/DATABASE"
_USERINFO = re.compile(r"(?<=//)([^/@]*?):[^/]*@")  # user:password@ in a URL SQLAlchemy cannot parse


def problem(url: str) -> str | None:
    """Why kukey cannot use `url`, as one line naming KUKEY_DATABASE_URL (password masked); None if it can."""
    if url.startswith(SQLITE_PREFIX):
        return None if url != SQLITE_PREFIX else "KUKEY_DATABASE_URL names no SQLite file (sqlite:///PATH)"
    parsed = _parse(url)
    if parsed is None or parsed.drivername not in _POSTGRES_SCHEMES:
        return f"KUKEY_DATABASE_URL must be {_FORMS}, got {masked(url)!r}"
    if not parsed.database:
        return f"KUKEY_DATABASE_URL names no PostgreSQL database: {masked(url)!r}"
    return None


def is_postgres(url: str) -> bool:
    return not url.startswith(SQLITE_PREFIX)


def normalized(url: str) -> URL:
    """The URL to connect with: postgresql:// gets the psycopg 3 driver. ValueError (masked) if unusable."""
    why = problem(url)
    if why is not None:
        raise ValueError(why)
    parsed = make_url(url)
    return parsed.set(drivername=PSYCOPG) if parsed.drivername == "postgresql" else parsed


def masked(url: str) -> str:
    """The URL with its password replaced by ***, fit for a log line or an error."""
    parsed = _parse(url)
    if parsed is None:
        return _USERINFO.sub(r"\1:***@", url)
    return parsed.render_as_string(hide_password=True)


def _parse(url: str) -> URL | None:
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        return None
