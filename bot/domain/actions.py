"""The name of every audited action: `AuditLog.record(session, AuditAction.X, ...)`.

Names are `<subject>.<what happened>`; refusals end in `.refused` and carry outcome "refused". The
values are stored in the audit log, so a value never changes once released (add new members instead).
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    # requests and their approval
    REQUEST_CREATED = "request.created"
    REQUEST_APPROVAL = "request.approval"  # one approver's approval (TOTP)
    REQUEST_APPROVED = "request.approved"  # the last approval completed it
    REQUEST_DENIED = "request.denied"
    REQUEST_CANCELLED = "request.cancelled"
    REQUEST_EXPIRED = "request.expired"
    REQUEST_LAPSED = "request.lapsed"
    REQUEST_NOTIFIED = "request.notified"  # the eligible approvers sent a direct message
    REQUEST_REMINDED = "request.reminded"  # a reminder to the approvers who have not approved
    REQUEST_ESCALATED = "request.escalated"  # the rule's escalate_to group told
    COMMAND_REFUSED = "command.refused"
    APPROVE_REFUSED = "approve.refused"
    DENY_REFUSED = "deny.refused"
    CANCEL_REFUSED = "cancel.refused"
    # reveal
    REVEAL_REFUSED = "reveal.refused"
    REVEAL_STARTED = "reveal.started"
    REVEAL_FAILED = "reveal.failed"
    REVEAL_OUTCOME_UNKNOWN = "reveal.outcome_unknown"
    REVEAL_RECOVERED = "reveal.recovered"
    REVEAL_WIPED = "reveal.wiped"
    # keys
    KEY_CREATED = "key.created"
    KEY_REVEALED = "key.revealed"
    KEY_DELETED = "key.deleted"
    KEY_DELETE_FAILED = "key.delete_failed"
    KEY_UPDATED = "key.updated"  # an approved update: the exchange holds the key's new IPs / permissions
    KEY_UPDATE_FAILED = "key.update_failed"  # the exchange refused it or did not answer; the request failed
    ROTATE_OLD_KEY_SCHEDULED = "rotate.old_key_scheduled"
    ROTATE_DONE = "rotate.done"
    REVOKE_INCIDENT = "revoke.incident"
    REVOKE_FINISHED = "revoke.finished"
    REVOKE_PARTIAL = "revoke.partial"
    KILL_SWITCH_STARTED = "kill_switch.started"  # `revoke everything`: the responder's TOTP and count
    KILL_SWITCH_REFUSED = "kill_switch.refused"
    KILL_SWITCH_FINISHED = "kill_switch.finished"  # every key's outcome (each key also has key.*)
    # reconciliation and reading
    RECONCILE_KEY_GONE = "reconcile.key_gone"
    RECONCILE_UNKNOWN_KEY = "reconcile.unknown_key"
    RECONCILE_FINISHED = "reconcile.finished"
    # reminders: a key's owner told it expires soon or is due for rotation; the admins' weekly digest
    KEY_REMINDED = "key.reminded"
    DIGEST_SENT = "digest.sent"
    # messages kukey owes people (the outbox)
    MESSAGE_GIVEN_UP = "message.given_up"  # not delivered within its deadline, or refused for good
    INVENTORY_LISTED = "inventory.listed"
    AUDIT_REFUSED = "audit.refused"
    AUDIT_VIEWED = "audit.viewed"
    AUDIT_CHECKPOINT = "audit.checkpoint"
    AUDIT_REKEYED = "audit.rekeyed"
    # TOTP
    TOTP_ENROLL_STARTED = "totp.enroll_started"
    TOTP_ENROLLED = "totp.enrolled"
    TOTP_RESET = "totp.reset"
    TOTP_ACCEPTED = "totp.accepted"
    TOTP_REFUSED = "totp.refused"
    TOTP_FAILED = "totp.failed"
    TOTP_LOCKED = "totp.locked"
    # the process
    KUKEY_STARTED = "kukey.started"
    KUKEY_STOPPED = "kukey.stopped"
    POLICY_LOADED = "policy.loaded"
