"""TOTP enrollment and the TOTP gate every second factor goes through.

- `start(user)` creates a pending seed (encrypted, bound to the user id) and returns it with its
  otpauth:// URI, to be shown privately; nothing is active until `confirm(user, code)`.
- Re-enrollment of an active user needs a valid current code (`start(user, current_code=...)`),
  or an admin's `kukey totp reset <user-id>` from the CLI.
- `check(user, code)` is the gate: a code is accepted within one 30 s step of drift, never twice for the
  same user and step (unique row in totp_use), and `max_failures` wrong codes lock the user out for
  `lockout`. Each failure, lockout and success is an audit event committed in its own transaction, so a
  refused attempt is on record even though the action it guarded does not happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from bot.domain.actions import AuditAction
from bot.domain.clock import Clock
from bot.domain.secret import Secret
from bot.domain.timeutil import aware
from bot.errors import Refused
from bot.security import totp
from bot.security.crypto import SecretBox
from bot.storage.audit import AuditLog
from bot.storage.db import inserted, session_scope
from bot.storage.tables import Enrollment, TotpUse


@dataclass(frozen=True)
class Lockout:
    max_failures: int = 5
    minutes: int = 15


@dataclass(frozen=True)
class NewSeed:
    seed: Secret
    uri: Secret


def _aad(user: str) -> str:
    return f"totp:{user}"


class EnrollmentService:
    def __init__(self, *, engine: Engine, audit: AuditLog, box: SecretBox, clock: Clock,
                 issuer: str = "kukey") -> None:
        self._engine = engine
        self._audit = audit
        self._box = box
        self._clock = clock
        self._issuer = issuer

    # --- enrollment -------------------------------------------------------------------------------
    def is_enrolled(self, user: str) -> bool:
        with session_scope(self._engine) as s:
            row = s.get(Enrollment, user)
            return bool(row and row.active)

    def start(self, user: str, *, account: str, current_code: str | None = None) -> NewSeed:
        """Begin (re-)enrollment. An active user must prove the current code first."""
        with session_scope(self._engine) as s:
            row = s.get(Enrollment, user)
            active = bool(row and row.active)
        if active:
            if current_code is None:
                raise Refused("You are already enrolled. Re-enrolling needs your current code.",
                              reason="reenroll_needs_code")
            self.check(user, current_code, purpose="reenroll")
        seed = totp.new_seed()
        blob = self._box.encrypt(seed, aad=_aad(user))
        now = self._clock.now()
        with session_scope(self._engine) as s:
            row = s.get(Enrollment, user)
            if row is None:
                row = Enrollment(user_id=user, seed_enc=blob, active=False, created_at=now)
            elif row.active:
                row.pending_seed_enc = blob
            else:
                row.seed_enc, row.created_at = blob, now
            s.add(row)
            self._audit.record(s, AuditAction.TOTP_ENROLL_STARTED, actor=user, detail={"reenroll": active})
        return NewSeed(seed=seed, uri=totp.provisioning_uri(seed, account=account, issuer=self._issuer))

    def confirm(self, user: str, code: str) -> int:
        """Activate the pending seed once the user shows one valid code from it; returns the code's step."""
        now = self._clock.now()
        with session_scope(self._engine) as s:
            row = s.get(Enrollment, user)
            if row is None or (row.active and row.pending_seed_enc is None):
                raise Refused("There is no enrollment waiting for a code. Run `/kukey enroll` first.",
                              reason="no_pending_enrollment")
            blob, aad = (row.pending_seed_enc, _aad(user)) if row.active else (row.seed_enc, _aad(user))
            assert blob is not None
            step = totp.match_step(self._box.decrypt(blob, aad=aad), code, now)
        if step is None:
            self._fail(user, "enroll", now)
            raise Refused("That code does not match the new seed. Check the authenticator and try again.",
                          reason="bad_code")
        with session_scope(self._engine) as s:
            row = s.get(Enrollment, user)
            assert row is not None
            reenroll = row.active
            if reenroll:
                row.seed_enc, row.pending_seed_enc = row.pending_seed_enc or row.seed_enc, None
            row.active, row.confirmed_at, row.failures, row.locked_until = True, now, 0, None
            s.add(row)
            self._consume(s, user, step, now)
            self._audit.record(s, AuditAction.TOTP_ENROLLED, actor=user, detail={"reenroll": reenroll, "step": step})
        return step

    def reset(self, user: str, *, actor: str) -> bool:
        """Admin reset from the CLI: the user must enroll again."""
        with session_scope(self._engine) as s:
            row = s.get(Enrollment, user)
            if row is None:
                return False
            s.delete(row)
            self._audit.record(s, AuditAction.TOTP_RESET, actor=actor, detail={"user": user})
        return True

    # --- the gate ---------------------------------------------------------------------------------
    def check(self, user: str, code: str, *, purpose: str, lockout: Lockout = Lockout(),
              request_id: str | None = None) -> int:
        """Accept `code` for `user` or raise Refused (not_enrolled, locked, bad_code, replay).

        The lock check, the comparison and the failure count happen in ONE transaction (BEGIN IMMEDIATE),
        so attempts sent at once, to any number of bot processes, are judged one after another: nobody
        gets a sixth guess in while the fifth is being counted. The transaction commits its audit event
        either way; a refusal is raised after the commit."""
        with session_scope(self._engine) as s:
            verdict = self.judge(s, user, code, purpose=purpose, lockout=lockout, request_id=request_id)
        if isinstance(verdict, Refused):
            raise verdict
        return verdict

    def judge(self, s: Session, user: str, code: str, *, purpose: str, lockout: Lockout = Lockout(),
              request_id: str | None = None) -> int | Refused:
        """`check` in the caller's transaction, for a workflow that acts on the code in that same transaction:
        the accepted step, or the refusal, which the caller raises once its transaction has COMMITTED (the
        failure count and the refusal's audit event must stay on record)."""
        now = self._clock.now()
        def refused(why: str, **detail: object) -> None:
            self._audit.record(s, AuditAction.TOTP_REFUSED, actor=user, request_id=request_id, outcome="refused",
                               detail={"purpose": purpose, "why": why, **detail})

        row = s.get(Enrollment, user)
        if row is None or not row.active:
            refused("not_enrolled")
            return Refused("You are not enrolled for TOTP yet. Run `/kukey enroll` first.", reason="not_enrolled")
        if row.locked_until and aware(row.locked_until) > now:
            refused("locked")
            until = aware(row.locked_until).strftime("%H:%M UTC")
            return Refused(f"Too many wrong codes: you are locked out until {until}.", reason="locked")
        step = totp.match_step(self._box.decrypt(row.seed_enc, aad=_aad(user)), code, now)
        if step is None:
            if self._count_failure(s, row, purpose, now, lockout=lockout, request_id=request_id):
                return Refused(f"Too many wrong codes: you are locked out for {lockout.minutes} minutes.",
                               reason="locked_now")
            return Refused("That code is not valid. Enter the current 6-digit code from your authenticator.",
                           reason="bad_code")
        if not _use(s, user, step, now):
            refused("replay", step=step)
            return Refused("That code was already used. Wait for the next code and try again.", reason="replay")
        if row.failures:
            row.failures = 0
            s.add(row)
        self._audit.record(s, AuditAction.TOTP_ACCEPTED, actor=user, request_id=request_id,
                           detail={"purpose": purpose, "step": step})
        return step

    def _consume(self, s: Session, user: str, step: int, now: datetime) -> None:
        s.add(TotpUse(user_id=user, step=step, used_at=now))
        s.flush()

    def _fail(self, user: str, purpose: str, now: datetime, *, lockout: Lockout = Lockout(),
              request_id: str | None = None) -> bool:
        with session_scope(self._engine) as s:
            row = s.get(Enrollment, user)
            if row is None:
                self._audit.record(s, AuditAction.TOTP_FAILED, actor=user, request_id=request_id, outcome="refused",
                                   detail={"purpose": purpose, "failures": 1})
                return False
            return self._count_failure(s, row, purpose, now, lockout=lockout, request_id=request_id)

    def _count_failure(self, s: Session, row: Enrollment, purpose: str, now: datetime, *, lockout: Lockout,
                       request_id: str | None) -> bool:
        """One more wrong code in the caller's transaction; True when it locks the user out."""
        failures = row.failures + 1
        locked = failures >= lockout.max_failures
        row.failures = 0 if locked else failures
        if locked:
            row.locked_until = now + timedelta(minutes=lockout.minutes)
        s.add(row)
        self._audit.record(s, AuditAction.TOTP_FAILED, actor=row.user_id, request_id=request_id, outcome="refused",
                           detail={"purpose": purpose, "failures": failures})
        if locked:
            self._audit.record(s, AuditAction.TOTP_LOCKED, actor=row.user_id, request_id=request_id, outcome="refused",
                               detail={"purpose": purpose, "minutes": lockout.minutes})
        return locked


def _use(s: Session, user: str, step: int, now: datetime) -> bool:
    """Record that `user`'s code of `step` was used; False when it had been (the unique user + step): one
    statement, no savepoint."""
    return inserted(s, TotpUse, unique=["user_id", "step"], user_id=user, step=step, used_at=now)
