"""What services call to tell people about a change: inside the change's own transaction, the Notifier's
plan for it goes into the outbox (table `outbox`), so a message is owed exactly when the change is
durable, and is delivered afterwards by the dispatcher (bot.services.delivery), however Slack behaves.

    with session_scope(engine) as s:
        ...the state change and its audit event...
        deps.outbox.event(s, "approved", view(s, row), user=approver)

The commit wakes this process's dispatcher at once (no visible delay on the normal path); another
process's items are found by its polling. Secrets never go through here: bot.services.reveal shows a
secret directly, once, and deletes the key when it cannot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from bot.domain.clock import Clock
from bot.domain.outbox import GIVE_UP_AFTER
from bot.services.ports import Notifier, Planned, RequestView
from bot.storage import outbox as items

log = logging.getLogger("kukey.outbox")
_WAKE_ARMED = "kukey.outbox.wake"  # Session.info flag: this transaction wakes the dispatcher on commit


class Outbox:
    def __init__(self, notifier: Notifier, clock: Clock) -> None:
        self._notifier = notifier
        self._clock = clock
        self._wake: Callable[[], None] = lambda: None

    def wake_with(self, wake: Callable[[], None]) -> None:
        """Call `wake` after every commit that added something (the composition root's dispatcher)."""
        self._wake = wake

    def event(self, session: Session, name: str, req: RequestView, *, give_up_at: datetime | None = None,
              **fields: Any) -> None:
        """Owe the people concerned the messages saying that `name` happened to `req` (its snapshot now);
        tried until `give_up_at` (default: GIVE_UP_AFTER from now)."""
        try:
            planned = self._notifier.plan(name, req, **fields)
        except Exception:  # a rendering bug must not undo the change it reports: logged, nothing owed
            log.exception("could not plan the messages of an event", extra={"event": name, "request_id": req.id})
            return
        self.add(session, planned, request_id=req.id, give_up_at=give_up_at)

    def announce(self, session: Session, channels: list[str], text: str) -> None:
        self.add(session, self._notifier.plan_announce(channels, text))

    def add(self, session: Session, planned: Sequence[Planned], *, request_id: str | None = None,
            give_up_at: datetime | None = None) -> None:
        """Add planned messages in the caller's transaction; its commit wakes the dispatcher."""
        if not planned:
            return
        now = self._clock.now()
        items.add(session, items=[items.NewItem(p.stream, p.op.value, p.params, request_id) for p in planned],
                  now=now, give_up_at=give_up_at or now + GIVE_UP_AFTER)
        if not session.info.get(_WAKE_ARMED):
            session.info[_WAKE_ARMED] = True
            event.listen(session, "after_commit", self._after_commit, once=True)

    def _after_commit(self, session: Session) -> None:
        session.info.pop(_WAKE_ARMED, None)
        self._wake()
