"""Reconciliation: compare the exchange's key lists with kukey's inventory, on a schedule and on demand.

- A key kukey holds that the exchange no longer lists was deleted outside kukey (or expired, or the
  exchange removed an idle trading key): it is marked `gone`.
- A key the exchange lists that kukey has no record of was created elsewhere: it is recorded as `external`
  (so it is reported once, not every run) and reported to the approvals channel.
- Key-age report: kukey's keys older than their rule's rotation age, each with the exact rotate command.
Every finding is an audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.actions import AuditAction
from bot.domain.exchange import ExchangeKey
from bot.domain.jobs import JobKind
from bot.domain.keys import DELETABLE, KeyOrigin, KeyState, format_permissions
from bot.domain.timeutil import aware, fmt
from bot.errors import ExchangeError
from bot.services.deps import Deps
from bot.storage import repos
from bot.storage.db import session_scope
from bot.storage.tables import KeyRecord

GLOBAL = "global"
EVERY = timedelta(hours=1)


@dataclass
class Findings:
    exchange: str  # its name, for the report
    gone: list[tuple[str, str]] = field(default_factory=list)  # (sub-account, api key)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    due: list[tuple[str, str, int]] = field(default_factory=list)  # (sub-account, api key, age in days)
    unreachable: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = ["*kukey reconciliation*"]
        lines += [f"• `{k}` in *{s}* is gone at {self.exchange} (deleted outside kukey or expired); marked gone."
                  for s, k in self.gone]
        lines += [f"• `{k}` in *{s}* was not created by kukey: check who made it; revoke it in "
                  f"{self.exchange}'s web UI if nobody owns it." for s, k in self.unknown]
        lines += [f"• `{k}` in *{s}* is {d} days old, due for rotation: `/kukey rotate {s} {k}`"
                  for s, k, d in self.due]
        lines += [f"• *{s}*: {self.exchange} did not answer; checked next time." for s in self.unreachable]
        if len(lines) == 1:
            lines.append(f"Everything matches {self.exchange}; no key is due for rotation.")
        return "\n".join(lines)


class Reconciler:
    def __init__(self, deps: Deps, sub_accounts: Callable[[], list[str]]) -> None:
        self.d = deps
        self._subs = sub_accounts

    def ensure_scheduled(self) -> None:
        """At start: the one periodic job for every replica (see Checkpoints.ensure_scheduled)."""
        with session_scope(self.d.engine) as s:
            repos.schedule_once(s, kind=JobKind.RECONCILE, ref=GLOBAL, run_at=self.d.clock.now() + EVERY)

    def job(self, _: str) -> None:
        self.run(post=True)
        with session_scope(self.d.engine) as s:
            repos.schedule(s, kind=JobKind.RECONCILE, ref=GLOBAL, run_at=self.d.clock.now() + EVERY)

    def run(self, *, post: bool = True, actor: str = "kukey") -> Findings:
        found = Findings(exchange=self.d.exchange.name)
        now = self.d.clock.now()
        for sub in self._subs():
            try:
                remote = {k.api_key: k for k in self.d.exchange.list_keys(sub)}
            except ExchangeError:
                found.unreachable.append(sub)
                continue
            self._compare(sub, remote, found, actor=actor, now=now)
        with session_scope(self.d.engine) as s:
            self.d.audit.record(s, AuditAction.RECONCILE_FINISHED, actor=actor,
                                detail={"gone": len(found.gone), "unknown": len(found.unknown),
                                        "due": len(found.due), "unreachable": found.unreachable,
                                        "at": fmt(now)})
            if post:
                self.d.outbox.announce(s, [self.d.policy().approvals_channel], found.text())
        return found

    def _compare(self, sub: str, remote: dict[str, ExchangeKey], found: Findings, *, actor: str,
                 now: datetime) -> None:
        """One sub-account: mark kukey's keys the exchange no longer lists `gone`, record the ones it lists
        that kukey does not know as `external`, and find kukey's keys due for rotation."""
        with session_scope(self.d.engine) as s:
            ours = {k.api_key: k for k in repos.keys_of(s, sub_account=sub, states=(*DELETABLE, KeyState.EXTERNAL))}
            for api_key, key in ours.items():
                if api_key not in remote and key.state in DELETABLE:
                    repos.key_transition(s, api_key=api_key, src=DELETABLE, dst=KeyState.GONE, deleted_at=now)
                    self.d.audit.record(s, AuditAction.RECONCILE_KEY_GONE, actor=actor, sub_account=sub,
                                        api_key=api_key)
                    found.gone.append((sub, api_key))
            for api_key, info in remote.items():
                if api_key not in ours and repos.get_key(s, api_key=api_key) is None:
                    s.add(KeyRecord(api_key=api_key, sub_account=sub, remark=info.remark,
                                    permissions=format_permissions(info.permissions), created_at=info.created_at,
                                    state=KeyState.EXTERNAL.value, origin=KeyOrigin.EXTERNAL.value))
                    self.d.audit.record(s, AuditAction.RECONCILE_UNKNOWN_KEY, actor=actor, sub_account=sub,
                                        api_key=api_key, detail={"remark": info.remark})
                    found.unknown.append((sub, api_key))
            rule = self.d.policy().rule_for(sub)
            for key in ours.values():
                age = (now - aware(key.created_at)).days
                ours_and_live = key.origin == KeyOrigin.KUKEY and key.state == KeyState.ACTIVE
                if ours_and_live and rule and age >= rule.rotation_days:
                    found.due.append((sub, key.api_key, age))
