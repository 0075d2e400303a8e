"""The kinds of scheduled job and a job's states (bot.services.scheduler runs them from table `job`).

The values are stored in the database: a value never changes once released.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# How long a claim on a job (or a reveal's hold) lasts unless its process renews it; the heartbeat renews
# every third of it (bot.services.leases). 10 s: a dead replica's work is taken over within about 11 s
# (the lease plus one scheduler tick), leaving room within 15 s for the work itself, while a live one may
# miss two renewals in a row (a busy database, a pause) and keep its work. KUKEY_LEASE_SECONDS changes it.
DEFAULT_LEASE_SECONDS = 10


class JobKind(StrEnum):
    EXPIRE_REQUEST = "expire_request"  # ref: request id; a pending request nobody approved in time
    LAPSE_APPROVAL = "lapse_approval"  # ref: request id; an approval nobody revealed in time
    RECOVER_REVEAL = "recover_reveal"  # ref: request id; a reveal interrupted by a crash or lost answer
    DELETE_OLD_KEY = "delete_old_key"  # ref: api key; a rotation's old key, after its grace period
    RETRY_DELETE = "retry_delete"  # ref: api key; a delete the exchange refused or did not answer
    REVOKE = "revoke"  # ref: request id; delete a revoke's key(s)
    KILL_SWITCH = "kill_switch"  # ref: request id; `revoke everything`: delete every key it snapshotted
    UPDATE_KEY = "update_key"  # ref: request id; send an approved update's new key settings
    AUDIT_CHECKPOINT = "audit_checkpoint"  # ref: "global"; post the audit chain's head
    RECONCILE = "reconcile"  # ref: "global"; compare the exchange's keys with kukey's
    KEY_REMINDERS = "key_reminders"  # ref: "global"; tell owners of keys about to expire or due for rotation
    WEEKLY_DIGEST = "weekly_digest"  # ref: "global"; the admins' weekly summary
    REMIND_APPROVERS = "remind_approvers"  # ref: request id; the next reminder of a pending request
    ESCALATE_REQUEST = "escalate_request"  # ref: request id; tell the rule's escalate_to group


# The jobs a pending request has; whatever resolves it (approved, denied, cancelled, expired) cancels them.
WHILE_PENDING = (JobKind.EXPIRE_REQUEST, JobKind.REMIND_APPROVERS, JobKind.ESCALATE_REQUEST)


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"  # claimed, with a lease; reclaimed after the lease if its process died
    DONE = "done"


@dataclass(frozen=True)
class Claim:
    """One process's hold on a job: the job's row and its claim count at the moment of the claim.

    A job's `attempts` only ever grows (every claim adds one; rescheduling keeps it), so (job_id, attempt)
    names one claim for good: a process whose claim was taken over can never mistake a later claim for its
    own, and every renewal, finish or fence check matches on both."""

    job_id: int
    attempt: int
    kind: str
    ref: str
