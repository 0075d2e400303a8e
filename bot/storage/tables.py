"""SQLModel tables for kukey's state. Table classes are not domain objects; no plaintext secret lives here.

Encrypted columns (`*_enc`) hold AES-256-GCM blobs from `bot.security.crypto.SecretBox`, bound to their
row by associated data: KeyRecord.passphrase_enc to "key:<api_key>", Enrollment.seed_enc and
pending_seed_enc to "totp:<user_id>", Request.pending_passphrase_enc to "req:<id>".
`kukey rekey` re-encrypts exactly these columns.

State changes are compare-and-set (`UPDATE ... WHERE id = ? AND state = ?`), see repositories.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.domain.jobs import JobState
from bot.domain.keys import KeyOrigin, KeyState
from bot.domain.outbox import OutboxState


class Request(SQLModel, table=True):
    """A create / rotate / revoke request and where it stands."""

    __tablename__ = "request"
    id: str = Field(primary_key=True)  # e.g. "KK-7F3Q9C2M": also the KuCoin remark (<= 24 chars)
    kind: str  # bot.domain.requests.Kind
    state: str = Field(index=True)  # bot.domain.requests.State
    requester: str = Field(index=True)  # immutable Slack user id
    sub_account: str = Field(index=True)
    permissions: str = ""  # bot.domain.keys.format_permissions, e.g. "General,Spot"
    ips: str = ""  # comma-separated, full (KuCoin masks them on list)
    expire_days: int | None = None  # None = never
    reason: str = ""
    approvals_needed: int = 1
    incident: bool = False
    target_api_key: str | None = None  # rotate/revoke: the existing key
    revoke_all: bool = False
    grace_minutes: int | None = None
    new_api_key: str | None = None
    granted_permissions: str | None = None
    origin_channel: str = ""  # where the requester typed the command
    channel: str = ""  # approvals channel of the posted request
    thread_ts: str | None = None  # the posted request's ts (its thread)
    dedupe_key: str | None = Field(default=None, unique=True)
    created_at: datetime
    expires_at: datetime
    approved_at: datetime | None = None
    reveal_deadline: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_note: str = ""
    # While `revealing`: the new key's passphrase, encrypted (aad "req:<id>"), so that recovery after a
    # crash can delete a key whose secret nobody received. Cleared once the key is recorded.
    pending_passphrase_enc: bytes | None = None
    version: int = 0


class Approval(SQLModel, table=True):
    __tablename__ = "approval"
    __table_args__ = (UniqueConstraint("request_id", "approver"),)
    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(foreign_key="request.id", index=True)
    approver: str
    totp_step: int
    approved_at: datetime


class Enrollment(SQLModel, table=True):
    """A user's TOTP enrollment. The seed is encrypted, bound to the user id."""

    __tablename__ = "enrollment"
    user_id: str = Field(primary_key=True)
    seed_enc: bytes
    pending_seed_enc: bytes | None = None  # re-enrollment in progress
    active: bool = False
    created_at: datetime
    confirmed_at: datetime | None = None
    failures: int = 0
    locked_until: datetime | None = None


class TotpUse(SQLModel, table=True):
    """One accepted code per user and time step: the unique constraint is the replay guard."""

    __tablename__ = "totp_use"
    __table_args__ = (UniqueConstraint("user_id", "step"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: str
    step: int
    used_at: datetime


class KeyRecord(SQLModel, table=True):
    """A sub-account key kukey knows of. The passphrase is encrypted, bound to the api key."""

    __tablename__ = "api_key"
    # a sub-account's live keys (`/kukey list`, revokes) without walking its deleted ones
    __table_args__ = (Index("ix_api_key_sub_account_state", "sub_account", "state"),)
    api_key: str = Field(primary_key=True)
    sub_account: str
    remark: str = ""
    permissions: str = ""
    ips: str = ""
    expire_days: int | None = None
    created_at: datetime
    expires_at: datetime | None = None
    passphrase_enc: bytes | None = None  # None for keys created outside kukey
    request_id: str | None = None
    requested_by: str | None = None
    approved_by: str = ""  # comma-separated user ids
    state: str = KeyState.ACTIVE.value
    origin: str = KeyOrigin.KUKEY.value
    delete_after: datetime | None = None
    deleted_at: datetime | None = None
    version: int = 0


class KillSwitchKey(SQLModel, table=True):
    """One key of a kill switch (`revoke everything`), snapshotted when it started, and its outcome there:
    "pending" until its delete is recorded, then "deleted" or "failed" (with the exchange's error)."""

    __tablename__ = "kill_switch_key"
    __table_args__ = (UniqueConstraint("request_id", "api_key"),)
    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(foreign_key="request.id", index=True)
    api_key: str
    sub_account: str
    outcome: str = "pending"
    error: str = ""
    done_at: datetime | None = None


class Job(SQLModel, table=True):
    """A scheduled job; the scheduler survives restarts because its jobs live here."""

    __tablename__ = "job"
    # the scheduler claims due jobs by state: by run_at alone it walked every done job in the past
    __table_args__ = (UniqueConstraint("kind", "ref"), Index("ix_job_state_run_at", "state", "run_at"))
    id: int | None = Field(default=None, primary_key=True)
    kind: str  # bot.domain.jobs.JobKind
    ref: str  # what the job is about: a request id, an api key, "global"
    run_at: datetime = Field(index=True)
    state: str = JobState.PENDING.value
    attempts: int = 0
    lease_until: datetime | None = None
    last_error: str = ""


class KeyReminder(SQLModel, table=True):
    """A reminder owed to a key's owner (bot.domain.reminders.Reason), recorded in the transaction that owes
    it in the outbox: the unique (api_key, reason) says it was sent once, whatever restarts or replicas."""

    __tablename__ = "key_reminder"
    __table_args__ = (UniqueConstraint("api_key", "reason"),)
    id: int | None = Field(default=None, primary_key=True)
    api_key: str
    reason: str  # bot.domain.reminders.Reason
    owner: str
    sent_at: datetime


class OutboxItem(SQLModel, table=True):
    """A message kukey owes Slack (bot.domain.outbox), written in the transaction of the change it reports.

    `params` is the planned message as JSON (channel, text, blocks, or a reference such as the thread of a
    request, bound when it is sent); it never holds a secret (secrets never go through the outbox).
    `key` is random and rides in the posted message's metadata, to find the message again when Slack's
    answer was lost."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_stream_state", "stream", "state"),
                      Index("ix_outbox_state_run_at", "state", "run_at"))
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    stream: str  # items of one stream are delivered one at a time, oldest first
    op: str  # bot.domain.outbox.Op
    params: str
    request_id: str | None = Field(default=None, index=True)
    state: str = OutboxState.PENDING.value
    attempts: int = 0  # claims so far; (id, attempts) names one claim
    uncertain: bool = False  # the last attempt may have reached Slack: look for it before sending again
    run_at: datetime
    lease_until: datetime | None = None
    created_at: datetime
    give_up_at: datetime
    sent_at: datetime | None = None
    result: str = ""  # JSON: where the message landed (channel, ts)
    last_error: str = ""


class Notice(SQLModel, table=True):
    """Who was told what about a request, once (bot.domain.notify.NoticeKind): the unique (request, kind,
    seq) makes a reminder or an escalation go out once across retries, replicas and restarts."""

    __tablename__ = "notice"
    __table_args__ = (UniqueConstraint("request_id", "kind", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(foreign_key="request.id", index=True)
    kind: str  # bot.domain.notify.NoticeKind
    seq: int = 0  # the reminder's number (0 for the others)
    users: str = ""  # comma-separated user ids sent a direct message
    created_at: datetime
