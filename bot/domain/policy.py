"""The policy: who may request, approve, respond and audit; what each sub-account's keys may be.

Pure data. The policy file (TOML) is read and validated by `bot.policy_file`, which builds these
objects; every field, default and check is in docs/policy.md.

Decisions of note:
- An empty or missing `requesters` group means everyone in the workspace may request.
- Rules match sub-account names with fnmatch patterns, case-insensitively; the first match wins; a
  sub-account no rule matches is refused.
- How approvers are told (channel post, direct messages, reminders, escalation): bot.domain.notify.
- TOTP lockout counts a person's failures across all requests, so `totp_max_failures` and
  `totp_lockout_minutes` are top-level settings, not per rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import MappingProxyType

from bot.domain.keys import Permission
from bot.domain.notify import Notify


@dataclass(frozen=True)
class Rule:
    """Limits for the sub-accounts whose name matches `match` (first matching rule wins)."""

    index: int
    match: str
    allowed_permissions: frozenset[Permission] = frozenset({Permission.GENERAL})
    require_ip_whitelist_for_trading: bool = True
    max_expire_days: int | None = None  # None: "never" (keys may be permanent)
    max_keys: int = 5
    rotation_days: int = 90
    warn_before_expiry_days: int = 7  # the owner is told this many days before the key expires; 0: never
    approvals: int = 1
    approver_group: str = "approvers"  # for people: a group name, or the key of an inline list
    approver_ids: tuple[str, ...] = ()  # Slack user (U/W) and user-group (S) ids, to resolve
    request_ttl_minutes: int = 30
    reveal_window_minutes: int = 15
    require_requester_totp: bool = True
    notify: Notify = Notify.CHANNEL  # how approvers are told (bot.domain.notify)
    remind_after_minutes: int | None = None  # None: no reminders
    escalate_to: str | None = None  # a group from [groups], told after escalate_after_minutes
    escalate_ids: tuple[str, ...] = ()  # that group's ids, to resolve
    escalate_after_minutes: int | None = None

    @property
    def key(self) -> str:
        return f"rules[{self.index}]"

    def matches(self, sub_account: str) -> bool:
        return fnmatchcase(sub_account.lower(), self.match.lower())


@dataclass(frozen=True)
class Policy:
    approvals_channel: str
    rules: tuple[Rule, ...]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    incident_channels: tuple[str, ...] = ()
    audit_channel: str | None = None
    checkpoint_minutes: int = 60
    totp_max_failures: int = 5
    totp_lockout_minutes: int = 15
    file: str = ""

    def rule_for(self, sub_account: str) -> Rule | None:
        """The first rule whose pattern matches, or None (the request is refused)."""
        return next((r for r in self.rules if r.matches(sub_account)), None)

    def group(self, name: str) -> tuple[str, ...]:
        """The ids listed in a group (empty when the group is missing)."""
        return self.groups.get(name, ())

    @property
    def everyone_may_request(self) -> bool:
        """True when the `requesters` group is missing or empty."""
        return not self.group("requesters")
