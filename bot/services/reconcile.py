"""Reconciliation: compare KuCoin's key lists with kukey's inventory, on a schedule and on demand.

- A key kukey holds that KuCoin no longer lists was deleted outside kukey (or expired, or KuCoin removed
  an idle trading key): it is marked `gone`.
- A key KuCoin lists that kukey has no record of was created elsewhere: it is recorded as `external`
  (so it is reported once, not every run) and reported to the approvals channel.
- Key-age report: kukey's keys older than their rule's rotation age, each with the exact rotate command.
Every finding is an audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from bot.domain.timeutil import aware, fmt
from bot.errors import KucoinError
from bot.services.deps import Deps
from bot.storage import repos
from bot.storage.db import session_scope
from bot.storage.tables import KeyRecord

RECONCILE_JOB = "reconcile"
GLOBAL = "global"
EVERY = timedelta(hours=1)
LIVE = ("active", "delete_pending")


@dataclass
class Findings:
    gone: list[tuple[str, str]] = field(default_factory=list)  # (sub-account, api key)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    due: list[tuple[str, str, int]] = field(default_factory=list)  # (sub-account, api key, age in days)
    unreachable: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = ["*kukey reconciliation*"]
        lines += [f"• `{k}` in *{s}* is gone at KuCoin (deleted outside kukey or expired); marked gone."
                  for s, k in self.gone]
        lines += [f"• `{k}` in *{s}* was not created by kukey: check who made it; revoke it in KuCoin's web UI "
                  "if nobody owns it." for s, k in self.unknown]
        lines += [f"• `{k}` in *{s}* is {d} days old, due for rotation: `/kukey rotate {s} {k}`"
                  for s, k, d in self.due]
        lines += [f"• *{s}*: KuCoin did not answer; checked next time." for s in self.unreachable]
        if len(lines) == 1:
            lines.append("Everything matches KuCoin; no key is due for rotation.")
        return "\n".join(lines)


class Reconciler:
    def __init__(self, deps: Deps, sub_accounts: Callable[[], list[str]]) -> None:
        self.d = deps
        self._subs = sub_accounts

    def ensure_scheduled(self) -> None:
        with session_scope(self.d.engine) as s:
            if not any(j.kind == RECONCILE_JOB for j in repos.pending_jobs(s)):
                repos.schedule(s, kind=RECONCILE_JOB, ref=GLOBAL, run_at=self.d.clock.now() + EVERY)

    def job(self, _: str) -> None:
        self.run(post=True)
        with session_scope(self.d.engine) as s:
            repos.schedule(s, kind=RECONCILE_JOB, ref=GLOBAL, run_at=self.d.clock.now() + EVERY)

    def run(self, *, post: bool = True, actor: str = "kukey") -> Findings:
        found = Findings()
        now = self.d.clock.now()
        for sub in self._subs():
            try:
                remote = {k.api_key: k for k in self.d.kucoin.list_keys(sub)}
            except KucoinError:
                found.unreachable.append(sub)
                continue
            with session_scope(self.d.engine) as s:
                ours = {k.api_key: k for k in repos.keys_of(s, sub_account=sub, states=(*LIVE, "external"))}
                for api_key, key in ours.items():
                    if api_key not in remote and key.state in LIVE:
                        repos.key_transition(s, api_key=api_key, src=LIVE, dst="gone", deleted_at=now)
                        self.d.audit.record(s, "reconcile.key_gone", actor=actor, sub_account=sub, api_key=api_key)
                        found.gone.append((sub, api_key))
                for api_key, info in remote.items():
                    if api_key not in ours and repos.get_key(s, api_key=api_key) is None:
                        s.add(KeyRecord(api_key=api_key, sub_account=sub, remark=info.remark,
                                        permissions=",".join(sorted(p.value for p in info.permissions)),
                                        created_at=info.created_at, state="external", origin="external"))
                        self.d.audit.record(s, "reconcile.unknown_key", actor=actor, sub_account=sub,
                                            api_key=api_key, detail={"remark": info.remark})
                        found.unknown.append((sub, api_key))
                rule = self.d.policy().rule_for(sub)
                for key in ours.values():
                    age = (now - aware(key.created_at)).days
                    if key.origin == "kukey" and key.state == "active" and rule and age >= rule.rotation_days:
                        found.due.append((sub, key.api_key, age))
        with session_scope(self.d.engine) as s:
            self.d.audit.record(s, "reconcile.finished", actor=actor,
                                detail={"gone": len(found.gone), "unknown": len(found.unknown),
                                        "due": len(found.due), "unreachable": found.unreachable,
                                        "at": fmt(now)})
        if post:
            self.d.notifier.announce([self.d.policy().approvals_channel], found.text())
        return found
