"""The policy file's schema as pydantic models: which keys each table takes, their types and ranges.

Strict: `true` is not a number, `"5"` is not a number, 1.5 is not a whole number; unknown keys are
refused. A rule's settings fall back to [defaults], then to the built-in defaults (the domain's `Rule`
and `Policy` dataclass defaults); `RuleSettings.chosen()` is what a table set itself.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from bot.domain.keys import Permission
from bot.domain.policy import Policy, Rule
from bot.policy_file.shapes import ChannelId, Expiry, GroupName, NotifyMode, Pattern, PermissionName, PersonId

WEEK: Final = 7 * 24 * 60  # minutes
DAY: Final = 24 * 60

# An approver group is a group's name, or a list of ids written in place. The tags name the two shapes;
# they appear in pydantic's error locations, and bot.policy_file.problems leaves them out.
GROUP_TAG: Final = "group"
IDS_TAG: Final = "ids"


def _approver_shape(value: Any) -> str | None:
    return IDS_TAG if isinstance(value, list) else GROUP_TAG if isinstance(value, str) else None


ApproverGroup = Annotated[
    Annotated[str, Tag(GROUP_TAG)] | Annotated[list[PersonId], Tag(IDS_TAG)],
    Discriminator(_approver_shape, custom_error_type="approver_group",
                  custom_error_message="must be a group name from [groups] or a list of ids"),
]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RuleSettings(_Table):
    """What [defaults] may set, and each [[rules]] entry besides its `match`."""

    allowed_permissions: list[PermissionName] = Field(default_factory=lambda: [Permission.GENERAL])
    require_ip_whitelist_for_trading: bool = Rule.require_ip_whitelist_for_trading
    max_expire_days: Expiry = Rule.max_expire_days
    max_keys: Annotated[int, Field(ge=1, le=20)] = Rule.max_keys
    rotation_days: Annotated[int, Field(ge=1, le=3650)] = Rule.rotation_days
    warn_before_expiry_days: Annotated[int, Field(ge=0, le=365)] = Rule.warn_before_expiry_days
    approvals: Annotated[int, Field(ge=1, le=10)] = Rule.approvals
    approver_group: ApproverGroup = Rule.approver_group
    request_ttl_minutes: Annotated[int, Field(ge=1, le=WEEK)] = Rule.request_ttl_minutes
    reveal_window_minutes: Annotated[int, Field(ge=1, le=DAY)] = Rule.reveal_window_minutes
    require_requester_totp: bool = Rule.require_requester_totp
    notify: NotifyMode = Rule.notify
    remind_after_minutes: Annotated[int | None, Field(ge=1, le=WEEK)] = Rule.remind_after_minutes
    escalate_to: GroupName | None = Rule.escalate_to
    escalate_after_minutes: Annotated[int | None, Field(ge=1, le=WEEK)] = Rule.escalate_after_minutes

    def chosen(self) -> dict[str, Any]:
        """The settings this table wrote itself (the others fall back)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class RuleEntry(RuleSettings):
    """One [[rules]] entry."""

    match: Pattern


class RulesSection(_Table):
    """[groups], [defaults] and [[rules]]: everything the checks across fields need."""

    groups: dict[GroupName, list[PersonId]] = Field(default_factory=dict)
    defaults: RuleSettings = Field(default_factory=RuleSettings)
    rules: Annotated[list[RuleEntry], Field(min_length=1)]


SECTION_KEYS: Final = tuple(RulesSection.model_fields)


class PolicyDocument(RulesSection):
    """The whole file."""

    approvals_channel: ChannelId
    incident_channels: list[ChannelId] = Field(default_factory=list)
    audit_channel: ChannelId | None = Policy.audit_channel
    checkpoint_minutes: Annotated[int, Field(ge=1, le=WEEK)] = Policy.checkpoint_minutes
    totp_max_failures: Annotated[int, Field(ge=1, le=100)] = Policy.totp_max_failures
    totp_lockout_minutes: Annotated[int, Field(ge=1, le=WEEK)] = Policy.totp_lockout_minutes
