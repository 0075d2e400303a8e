"""`kukey audit verify|export|tail`: check the audit chain, export it, read its latest events.

The database comes from KUKEY_DATABASE_URL; `verify` also needs the master key (KUKEY_MASTER_KEY or
KUKEY_MASTER_KEY_FILE). Exit codes: 0 fine, 1 the chain is broken, 2 bad input or configuration.
These commands only read: they work on a database at any schema revision (an old backup, too) and never
create or migrate one.

`tail --follow` prints events as JSON lines (what `export --format jsonl` prints) as they are written,
polling on a read-only connection that takes no lock (bot.audit_stream.reading), until SIGINT or SIGTERM
(exit 0). `--since-seq N` starts after event N, so a consumer that remembers the last seq it stored
resumes without a gap.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from bot import config
from bot.audit_stream.reading import event_json, events_after, latest, stream_engine
from bot.domain.clock import Clock, SystemClock
from bot.errors import ConfigError, StorageError, UsageError
from bot.storage import audit_read, urls
from bot.storage.audit_chain import COLUMNS
from bot.storage.audit_verify import parse_checkpoint, verify
from bot.storage.db import make_engine, session_scope

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SINCE_HELP = ("an ISO-8601 time (UTC unless it has an offset), e.g. 2026-01-31T09:00, "
               "or a duration back from now: 90m, 24h, 7d")
_PAGE = 5000
FOLLOW_INTERVAL = 0.5  # seconds between polls of `tail --follow`
_FOLLOW_USAGE = "kukey audit tail --follow [-n N | --since-seq N] [--sub-account NAME] [--interval SECONDS]"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("audit", help="verify, export or read the audit log")
    actions = parser.add_subparsers(dest="audit_action", metavar="ACTION", required=True,
                                    parser_class=type(parser))
    verify = actions.add_parser("verify", help="walk the hash chain; exit 1 naming the first broken event")
    verify.add_argument("--checkpoint", metavar="N:HASH",
                        help="a posted checkpoint: also detects a cut tail or a rewritten log")
    verify.set_defaults(func=verify_command)
    export = actions.add_parser("export", help="print events as JSON lines or CSV")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--since", metavar="TIME", help=_SINCE_HELP)
    export.set_defaults(func=export_command)
    tail = actions.add_parser("tail", help="print the latest events, oldest first; --follow: then new ones")
    tail.add_argument("-n", type=int, default=None, metavar="N", help="how many events (default 20)")
    tail.add_argument("--sub-account", metavar="NAME", help="only events about this sub-account")
    tail.add_argument("-f", "--follow", action="store_true",
                      help="then print new events as JSON lines as they are written, until interrupted")
    tail.add_argument("--since-seq", type=int, metavar="N",
                      help="with --follow: start with every event after event N instead of the last -n")
    tail.add_argument("--interval", type=float, default=FOLLOW_INTERVAL, metavar="SECONDS",
                      help=f"with --follow: how often to look for new events (default {FOLLOW_INTERVAL})")
    tail.set_defaults(func=tail_command)


def verify_command(args: argparse.Namespace) -> int:
    checkpoint = parse_checkpoint(args.checkpoint) if args.checkpoint is not None else None
    settings = config.Settings.from_env(need=[config.MASTER_KEY])
    engine = open_database(settings.database_url)
    try:
        result = verify(engine, master_key=settings.master_key_bytes(), checkpoint=checkpoint)
    finally:
        engine.dispose()
    if result.ok:
        print(f"OK: {result.count} events verified; checkpoint {result.checkpoint}")
        return 0
    where = "" if result.first_bad_seq is None else f" at event {result.first_bad_seq}"
    print(f"BROKEN{where}: {result.problem}")
    if result.count:
        print(f"events 1-{result.count} verify; the last good checkpoint is {result.checkpoint}")
    return 1


def export_command(args: argparse.Namespace) -> int:
    since = parse_since(args.since, SystemClock()) if args.since is not None else None
    settings = config.Settings.from_env()
    engine = open_database(settings.database_url)
    try:
        rows = _all_events(engine, since)
        if args.format == "csv":
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(COLUMNS)
            for event in rows:
                writer.writerow([_raw(event, name) for name in COLUMNS])
        else:
            for event in rows:
                print(event_json(event))
    finally:
        engine.dispose()
    return 0


def tail_command(args: argparse.Namespace) -> int:
    if args.follow or args.since_seq is not None:
        return follow_command(args)
    args.n = 20 if args.n is None else args.n
    if args.n < 1:
        raise UsageError(f"-n must be at least 1, got {args.n}", usage="kukey audit tail [-n N]")
    settings = config.Settings.from_env()
    engine = open_database(settings.database_url)
    try:
        with reading(), session_scope(engine) as session:
            latest = audit_read.events(session, limit=args.n, sub_account=args.sub_account, newest_first=True)
    finally:
        engine.dispose()
    for event in reversed(latest):
        print(format_event(event))
    return 0


def follow_command(args: argparse.Namespace) -> int:
    """`tail --follow`: the last -n events (or every event after --since-seq N), then each new one, as JSON
    lines, until SIGINT or SIGTERM. Reads on a read-only connection; never writes."""
    after = _follow_start(args)
    settings = config.Settings.from_env()
    existing_database(settings.database_url)
    engine = stream_engine(settings.database_url, read_only=True)
    try:
        with _Interrupts() as interrupts:
            with reading():  # the first read: a database without an audit log is an error, not a wait
                first = (latest(engine, args.n or 20, sub_account=args.sub_account) if after is None
                         else events_after(engine, after, limit=_PAGE, sub_account=args.sub_account))
            _follow(engine, _emit(first, after or 0), args.sub_account, args.interval, interrupts)
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say, and no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        engine.dispose()
    return 0


def _follow_start(args: argparse.Namespace) -> int | None:
    """The seq to start after (None: after the last -n events); UsageError for a bad combination."""
    if not args.follow:
        raise UsageError("--since-seq goes with --follow", usage=_FOLLOW_USAGE)
    if args.since_seq is not None and args.n is not None:
        raise UsageError("-n and --since-seq choose where to start: give one", usage=_FOLLOW_USAGE)
    if args.since_seq is not None and args.since_seq < 0:
        raise UsageError(f"--since-seq must be 0 or more, got {args.since_seq}", usage=_FOLLOW_USAGE)
    if args.n is not None and args.n < 1:
        raise UsageError(f"-n must be at least 1, got {args.n}", usage=_FOLLOW_USAGE)
    if not 0.05 <= args.interval <= 60:
        raise UsageError(f"--interval must be 0.05-60 seconds, got {args.interval}", usage=_FOLLOW_USAGE)
    return args.since_seq  # type: ignore[no-any-return]


def _follow(engine: Engine, after: int, sub_account: str | None, interval: float, interrupts: _Interrupts) -> None:
    """Print every event after `after` as it appears. A database that stops answering (a restart) is said
    once on stderr and read again at the next poll."""
    failing = False
    while not interrupts.requested:
        try:
            page = events_after(engine, after, limit=_PAGE, sub_account=sub_account)
        except OperationalError as exc:
            if not failing:
                print(f"kukey: cannot read the audit log ({' '.join(str(exc.orig).split())}); retrying",
                      file=sys.stderr, flush=True)
            failing, page = True, []
        else:
            if failing:
                print("kukey: reading the audit log again", file=sys.stderr, flush=True)
            failing = False
        after = _emit(page, after)
        if len(page) < _PAGE:
            interrupts.sleep(interval)


def _emit(events: list[audit_read.Event], after: int) -> int:
    """Print events as JSON lines (flushed: a pipe must see each at once); the last seq printed."""
    for event in events:
        sys.stdout.write(event_json(event) + "\n")
    sys.stdout.flush()
    return events[-1].seq if events else after


class _Interrupts:
    """While entered, SIGINT and SIGTERM only set `requested` (a handler that took a lock could deadlock
    the thread it interrupted); `sleep` returns early once one came."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> _Interrupts:
        self._saved = {sig: signal.signal(sig, self._handle) for sig in self._SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)

    def _handle(self, _signum: int, _frame: object) -> None:
        self.requested = True

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))


def format_event(event: audit_read.Event) -> str:
    """One human-readable line: seq, time, actor, action, outcome, the ids present, the detail."""
    parts = [str(event.seq), event.ts, event.actor, event.action, event.outcome]
    parts += [f"{name}={getattr(event, name)}" for name in ("request_id", "sub_account", "api_key")
              if getattr(event, name)]
    if event.detail:
        parts.append(json.dumps(event.detail, sort_keys=True, ensure_ascii=False))
    return "  ".join(parts)


def parse_since(text: str, clock: Clock) -> datetime:
    """An aware datetime from an ISO-8601 time (naive = UTC) or a duration back from now (24h, 7d)."""
    cleaned = text.strip()
    duration = _DURATION.fullmatch(cleaned)
    if duration:
        return clock.now() - timedelta(**{_UNITS[duration.group(2)]: int(duration.group(1))})
    try:
        when = datetime.fromisoformat(cleaned)
    except ValueError:
        raise UsageError(f"--since {text!r} is not a time", usage=f"--since TIME: {_SINCE_HELP}") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def open_database(url: str) -> Engine:
    """An engine for an EXISTING database (the CLI must not create an empty SQLite file by mistake)."""
    existing_database(url)
    return make_engine(url)


def existing_database(url: str) -> None:
    """ConfigError unless KUKEY_DATABASE_URL is PostgreSQL or names an existing SQLite file."""
    path = url.removeprefix(urls.SQLITE_PREFIX)
    if not urls.is_postgres(url) and path != ":memory:" and not Path(path).is_file():
        raise ConfigError(f"KUKEY_DATABASE_URL points to {path!r}, which does not exist",
                          variable="KUKEY_DATABASE_URL")


def _all_events(engine: Engine, since: datetime | None) -> Iterator[audit_read.Event]:
    after = 0
    while True:
        with reading(), session_scope(engine) as session:
            page = audit_read.events(session, since=since, limit=_PAGE, after_seq=after)
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1].seq


def _raw(event: audit_read.Event, name: str) -> object:
    if name == "detail":
        return json.dumps(event.detail, sort_keys=True, separators=(",", ":"))
    value = getattr(event, name)
    return "" if value is None else value


@contextmanager
def reading() -> Iterator[None]:
    """Turns "no such table", an unreachable server and the like into one clear StorageError."""
    try:
        yield
    except (OperationalError, ProgrammingError) as exc:  # SQLite: no such table; PostgreSQL: also unreachable
        reason = " ".join(str(exc.orig).split())
        raise StorageError(f"the database has no readable audit log ({reason})") from exc
