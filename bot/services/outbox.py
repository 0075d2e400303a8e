"""What services call to tell people about a change: inside the change's own transaction, the Notifier's
plan for it goes into the outbox (table `outbox`), so a message is owed exactly when the change is
durable, and is delivered afterwards by the dispatcher (bot.services.delivery), however Slack behaves.

    with session_scope(engine) as s:
        ...the state change and its audit event...
        deps.outbox.event(s, "approved", view(s, row), user=approver)

While this process's dispatcher runs, the transaction also claims what it owes (where nothing older of
the same stream is open) and its commit hands that to the dispatcher at once: the normal path adds no
transaction before a message goes out. Anything else is found by the dispatcher's polling.

Secrets never go through here: bot.services.reveal shows a secret directly, once, and deletes the key
when it cannot.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from bot.domain.clock import Clock
from bot.domain.outbox import GIVE_UP_AFTER, THREAD, needs_thread
from bot.services.ports import Notifier, Planned, RequestView
from bot.storage import outbox as items
from bot.storage.outbox import Claimed

log = logging.getLogger("kukey.outbox")
_ADDED = "kukey.outbox.added"  # Session.info: what this transaction claimed, handed over when it commits
_OWED = "kukey.outbox.owed"  # Session.info: what to do once the transaction has committed
Take = Callable[[list[list[Claimed]]], None]
# Told, after the transaction commits, what was reported (an event's name, its request, its fields; an
# announcement: "announce", None, {}). For views that only mirror the database (the App Home): a lost
# call is healed by the next one, so they need no outbox item of their own.
Watcher = Callable[[str, RequestView | None, Mapping[str, Any]], None]


class Outbox:
    def __init__(self, notifier: Notifier, clock: Clock) -> None:
        self._notifier = notifier
        self._clock = clock
        self._take: Take | None = None
        self._lease = timedelta()
        self._watchers: list[Watcher] = []

    def watch(self, watcher: Watcher) -> None:
        """Call `watcher` after each transaction that reported something commits."""
        self._watchers.append(watcher)

    def hand_to(self, take: Take | None, lease: timedelta) -> None:
        """While a dispatcher runs in this process: claim what a transaction owes (where its stream has
        nothing older open) in that transaction, for `lease`, and hand it to `take` once it commits."""
        self._take, self._lease = take, lease

    def event(self, session: Session, name: str, req: RequestView, *, give_up_at: datetime | None = None,
              **fields: Any) -> None:
        """Owe the people concerned the messages saying that `name` happened to `req` (its snapshot now);
        tried until `give_up_at` (default: GIVE_UP_AFTER from now)."""
        try:
            planned = self._notifier.plan(name, req, **fields)
        except Exception:  # a rendering bug must not undo the change it reports: logged, nothing owed
            log.exception("could not plan the messages of an event", extra={"event": name, "request_id": req.id})
            return
        if req.channel and req.thread_ts:  # the thread is known already: no need to look it up when sending
            planned = [_with_thread(p, (req.channel, req.thread_ts)) for p in planned]
        self.add(session, planned, request_id=req.id, give_up_at=give_up_at)
        self._tell_watchers(session, name, req, fields)

    def announce(self, session: Session, channels: list[str], text: str) -> None:
        self.add(session, self._notifier.plan_announce(channels, text))
        self._tell_watchers(session, "announce", None, {})

    def _tell_watchers(self, session: Session, name: str, req: RequestView | None, fields: Mapping[str, Any]) -> None:
        for watcher in self._watchers:
            _after_commit(session, functools.partial(watcher, name, req, fields))

    def add(self, session: Session, planned: Sequence[Planned], *, request_id: str | None = None,
            give_up_at: datetime | None = None) -> None:
        """Add planned messages in the caller's transaction; its commit wakes the dispatcher."""
        if not planned:
            return
        now, take = self._clock.now(), self._take
        runs = items.add(session, items=[items.NewItem(p.stream, p.op.value, p.params, request_id) for p in planned],
                          now=now, give_up_at=give_up_at or now + GIVE_UP_AFTER,
                          lease_until=now + self._lease if take is not None else None)
        if take is None:
            return
        if _ADDED not in session.info:
            session.info[_ADDED] = []
            _after_commit(session, lambda: take(session.info.pop(_ADDED, [])))
        session.info[_ADDED].extend(runs)


def _after_commit(session: Session, then: Callable[[], None]) -> None:
    """Call `then` once the session's transaction has committed (sessions here last one transaction:
    bot.storage.db.session_scope). SQLAlchemy also sends "after_commit" when a SAVEPOINT is released, while
    the transaction can still roll back: those are skipped, so nothing is handed over (or shown) early."""
    owed = session.info.get(_OWED)
    if owed is None:
        owed = session.info[_OWED] = []
        event.listen(session, "after_commit", _committed)
    owed.append(then)


def _committed(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the transaction itself is still open
        return
    for then in session.info.pop(_OWED, []):
        then()


def _with_thread(planned: Planned, thread: tuple[str, str]) -> Planned:
    if not needs_thread(planned.op, planned.params):
        return planned
    return Planned(planned.op, {**planned.params, THREAD: list(thread)}, planned.stream)
