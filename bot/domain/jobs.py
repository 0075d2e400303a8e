"""The kinds of scheduled job and a job's states (bot.services.scheduler runs them from table `job`).

The values are stored in the database: a value never changes once released.
"""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    EXPIRE_REQUEST = "expire_request"  # ref: request id; a pending request nobody approved in time
    LAPSE_APPROVAL = "lapse_approval"  # ref: request id; an approval nobody revealed in time
    RECOVER_REVEAL = "recover_reveal"  # ref: request id; a reveal interrupted by a crash or lost answer
    DELETE_OLD_KEY = "delete_old_key"  # ref: api key; a rotation's old key, after its grace period
    RETRY_DELETE = "retry_delete"  # ref: api key; a delete the exchange refused or did not answer
    REVOKE = "revoke"  # ref: request id; delete a revoke's key(s)
    AUDIT_CHECKPOINT = "audit_checkpoint"  # ref: "global"; post the audit chain's head
    RECONCILE = "reconcile"  # ref: "global"; compare the exchange's keys with kukey's


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"  # claimed, with a lease; reclaimed after the lease if its process died
    DONE = "done"
