"""Leases on jobs, renewed by a heartbeat while their work runs, so that a live replica keeps its work however
slow KuCoin is, and a dead one's work is taken over soon after it stops renewing.

A process that claims a job (bot.services.scheduler) or starts work another process must undo if this one
dies (a reveal holds its `recover_reveal` job) adds the claim here. A heartbeat thread renews every held
claim each `renew_every` seconds of real time, setting its lease to the injected clock's now + `lease`.
Another process takes a job over only once its lease has passed on ITS clock (repos.claim_due), so:

- a live holder is never taken over: it renews every lease/3 s, so two renewals in a row may fail (the
  database busy for a moment, a pause) before the lease runs out;
- a dead holder's work is taken over at most lease + one scheduler interval after its last renewal;
- the hosts' clocks must agree to well within the lease (NTP keeps them within milliseconds).

A claim is lost when its renewal matches nothing (the job was finished, rescheduled, cancelled or taken
over: repos.renew compares the claim's attempt number). Work that must not go on without its claim (a
reveal, before it shows a secret) checks `still_held` inside its own transaction, which also renews.

Tests drive expiry with a FakeClock: a lease ends when the clock passes it; `renew()` is the heartbeat's
one beat, callable directly.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.domain.clock import Clock
from bot.domain.jobs import DEFAULT_LEASE_SECONDS, Claim
from bot.storage import repos
from bot.storage.db import session_scope

log = logging.getLogger("kukey.leases")

DEFAULT_LEASE = timedelta(seconds=DEFAULT_LEASE_SECONDS)
BEATS_PER_LEASE = 3


class Leases:
    """The claims this process holds, and the heartbeat that renews them. Thread-safe."""

    def __init__(self, *, engine: Engine, clock: Clock, lease: timedelta = DEFAULT_LEASE,
                 renew_every: float | None = None) -> None:
        self.engine, self.clock, self.lease = engine, clock, lease
        self.renew_every = renew_every if renew_every is not None else lease.total_seconds() / BEATS_PER_LEASE
        self._held: dict[tuple[str, str], tuple[Claim, datetime]] = {}  # each claim, when made or last renewed
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, claim: Claim) -> None:
        """Hold `claim`, made (its lease set) just now."""
        with self._lock:
            self._held[(claim.kind, claim.ref)] = (claim, self.clock.now())

    def release(self, claim: Claim) -> None:
        """Stop renewing `claim` (its work ended, whatever became of the job)."""
        with self._lock:
            if self._since(claim) is not None:
                del self._held[(claim.kind, claim.ref)]

    def find(self, kind: str, ref: str) -> Claim | None:
        with self._lock:
            entry = self._held.get((kind, ref))
        return entry[0] if entry else None

    def held(self) -> list[Claim]:
        with self._lock:
            return [claim for claim, _ in self._held.values()]

    def still_held(self, session: Session, claim: Claim) -> bool:
        """Inside the caller's transaction: renew `claim` and say whether it is still this process's."""
        return repos.renew(session, claim=claim, lease_until=self.clock.now() + self.lease)

    def surely_held(self, claim: Claim) -> bool:
        """Without asking the database: True when this process made or renewed `claim` less than half a
        lease ago, so no other process can have taken it over yet (they wait for the whole lease to pass
        on their clocks, which agree with ours to well within that half). False means: ask `still_held`."""
        with self._lock:
            since = self._since(claim)
        return since is not None and self.clock.now() - since < self.lease / 2

    def _since(self, claim: Claim) -> datetime | None:
        """When this process made or last renewed `claim`; None when it holds it no longer (hold the lock)."""
        entry = self._held.get((claim.kind, claim.ref))
        return entry[1] if entry and entry[0] == claim else None

    def renew(self) -> list[Claim]:
        """One heartbeat: renew every held claim in one transaction; the claims found lost (no longer
        renewed from now on)."""
        claims = self.held()
        if not claims:
            return []
        now = self.clock.now()
        with session_scope(self.engine) as s:
            lost = [c for c in claims if not repos.renew(s, claim=c, lease_until=now + self.lease)]
        with self._lock:
            for claim in claims:
                if claim not in lost and self._since(claim) is not None:
                    self._held[(claim.kind, claim.ref)] = (claim, now)
        for claim in lost:
            log.warning("lease lost", extra={"kind": claim.kind, "ref": claim.ref})
            self.release(claim)
        return lost

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._beat, name="kukey-heartbeat", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _beat(self) -> None:
        while not self._stop.wait(self.renew_every):
            try:
                self.renew()
            except Exception:  # the database busy or gone: the next beat tries again, within the lease
                log.exception("lease renewal failed")
