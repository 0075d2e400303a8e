"""Read-side commands: list keys (the exchange's joined with kukey's records), pending, status, audit; plus the
small audit records of the Slack edge (rejected input, wipes)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.actions import AuditAction
from bot.domain.exchange import ExchangeKey
from bot.domain.keys import KeyOrigin, KeyState
from bot.domain.requests import OPEN_STATES, Kind
from bot.domain.text import noun
from bot.domain.timeutil import fmt
from bot.errors import ExchangeError
from bot.services.deps import Deps, view
from bot.services.ports import RequestView
from bot.services.rules import Rules
from bot.storage import kill_switch as ks
from bot.storage import repos
from bot.storage.audit_read import events as audit_events
from bot.storage.db import session_scope
from bot.storage.tables import KeyRecord

MAX_LIST = 40


def key_line(remote: ExchangeKey, ours: KeyRecord | None) -> str:
    """One key in `/kukey list`: the exchange's view joined with kukey's record. Never a secret."""
    perms_text = ",".join(sorted(remote.permissions))
    if ours is None or ours.origin == KeyOrigin.EXTERNAL:
        return f"• `{remote.api_key}` {perms_text} — *not created by kukey* (no record, cannot revoke it)"
    return (f"• `{remote.api_key}` {perms_text}, IPs {ours.ips or 'none'}; requested by <@{ours.requested_by}>,"
            f" approved by {', '.join(f'<@{a}>' for a in ours.approved_by.split(',') if a) or '-'}; "
            f"created {fmt(ours.created_at)}, expires {fmt(ours.expires_at) if ours.expires_at else 'never'}"
            + (" — *deletion pending*" if ours.state == KeyState.DELETE_PENDING else ""))


@dataclass(frozen=True)
class KillProgress:
    """Where a kill switch stands: its keys, how many deleted, the failed ones (sub-account, apiKey, why)."""

    total: int
    deleted: int
    failed: tuple[tuple[str, str, str], ...]

    @property
    def left(self) -> int:
        return self.total - self.deleted - len(self.failed)


@dataclass(frozen=True)
class RequestStatus:
    """One request as `/kukey status` shows it; a kill switch's with its progress."""

    request: RequestView
    progress: KillProgress | None = None


class SubAccounts:
    """The exchange's sub-account names, cached; refreshed after the ack, never on the ack path."""

    def __init__(self, fetch: Callable[[], list[str]]) -> None:
        self._fetch = fetch
        self._names: list[str] | None = None
        self._lock = threading.Lock()
        self._watchers: list[Callable[[list[str]], None]] = []

    def watch(self, watcher: Callable[[list[str]], None]) -> None:
        """Call `watcher` with the names after each refresh (kukey's worker tells its serving process)."""
        self._watchers.append(watcher)

    def remember(self, names: list[str]) -> None:
        """Names fetched elsewhere (by kukey's worker, which talks to the exchange for this process)."""
        with self._lock:
            self._names = sorted(names)

    def known(self) -> list[str] | None:
        """The cached names, or None when never fetched (the parser then skips the existence check)."""
        with self._lock:
            return None if self._names is None else list(self._names)

    def refresh(self) -> list[str]:
        names = sorted(self._fetch())
        with self._lock:
            self._names = names
        for watcher in self._watchers:
            watcher(list(names))
        return list(names)


class Inventory:
    def __init__(self, deps: Deps, rules: Rules, subs: SubAccounts) -> None:
        self.d = deps
        self.rules = rules
        self.subs = subs

    def list_text(self, user: str, sub: str | None) -> str:
        names = [sub] if sub else (self.subs.known() or self.subs.refresh())
        lines: list[str] = []
        for name in names:
            try:
                remote = self.d.exchange.list_keys(name)
            except ExchangeError as exc:
                lines.append(f"*{name}*: {self.d.exchange.name} did not answer ({exc}).")
                continue
            with session_scope(self.d.engine) as s:
                ours = {k.api_key: k for k in repos.keys_of(s, sub_account=name,
                                                            states=(KeyState.ACTIVE, KeyState.DELETE_PENDING,
                                                                    KeyState.DELIVERING))}
            lines.append(f"*{name}*: {len(remote)} {noun(len(remote), 'key')}")
            for k in remote[:MAX_LIST]:
                lines.append(key_line(k, ours.get(k.api_key)))
        with session_scope(self.d.engine) as s:
            self.d.audit.record(s, AuditAction.INVENTORY_LISTED, actor=user, sub_account=sub)
        return "\n".join(lines) or "No sub-accounts."

    def pending(self) -> list[RequestView]:
        """Every open request, oldest first."""
        with session_scope(self.d.engine) as s:
            return [view(s, r) for r in repos.requests_in(s, states=sorted(OPEN_STATES))]

    def status(self, request_id: str) -> RequestStatus | None:
        """One request (None when there is none); a kill switch's with where its deletes stand."""
        with session_scope(self.d.engine) as s:
            row = repos.get_request(s, request_id=request_id.upper())
            if row is None:
                return None
            if row.kind != Kind.KILL_SWITCH:
                return RequestStatus(view(s, row))
            tally = ks.tally(s, request_id=row.id)
            failed = tuple((k.sub_account, k.api_key, k.error) for k in tally.failed)
            return RequestStatus(view(s, row), KillProgress(tally.total, tally.deleted, failed))

    def audit_text(self, user: str, n: int, sub: str | None) -> str:
        decision = self.rules.may_audit(user)
        with session_scope(self.d.engine) as s:
            if not decision.allowed:
                self.d.audit.record(s, AuditAction.AUDIT_REFUSED, actor=user, outcome="refused",
                                    detail={"why": decision.reason})
                return decision.message
            events = audit_events(s, limit=n, sub_account=sub, newest_first=True)
            self.d.audit.record(s, AuditAction.AUDIT_VIEWED, actor=user, sub_account=sub, detail={"n": n})
        if not events:
            return "No audit events."
        return "Newest first:\n" + "\n".join(
            f"`{e.seq}` {e.ts} {e.action} {e.actor} {e.request_id or ''} {e.api_key or ''} "
                         f"{e.outcome}" for e in events)

    def record_wipe(self, user: str, request_id: str) -> None:
        with session_scope(self.d.engine) as s:
            self.d.audit.record(s, AuditAction.REVEAL_WIPED, actor=user, request_id=request_id or None)
