"""Request kinds, states and the transition table kukey allows; bot.storage.repos.transition refuses
any other move (IllegalTransition).

    create/rotate:  pending -> approved -> revealing -> revealed -> (rotate: old key deleted) -> done
    revoke:         pending -> revoking -> done           (the last approval starts the revoke)
    update:         pending -> updating -> done | failed  (the last approval starts the update; no reveal:
                                                           nothing secret changes or is shown)
    incident:       revoking -> done                      (recorded as `revoking`: no approval step)
    kill_switch:    revoking -> done                      (`revoke everything`: every sub-account)
    any pending:    -> denied | expired | cancelled
    approved:       -> cancelled | lapsed (the reveal window passed)
    revealing:      -> approved (exchange busy / delivery failed / crash: the key is undone, try again)
                    -> lapsed   (the same, but the reveal window closed meanwhile)
                    -> failed   (the exchange refused for good)

A create ends `revealed`; a rotate goes on to `done` once its old key is deleted. A revoke retries its
deletes until they succeed, so `revoking` only ever moves to `done`. An update sends the key's whole
new state once (KuCoin's modify is idempotent); `failed` when the exchange refused or did not answer.

`revealing` is the only state in which a key may exist at the exchange whose secret nobody has received;
recovery deletes such a key by its remark (the request id) and returns the request to `approved`
(or `lapsed`).
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    CREATE = "create"
    ROTATE = "rotate"
    REVOKE = "revoke"
    KILL_SWITCH = "kill_switch"  # every key kukey holds, in every sub-account (bot.services.kill_switch)
    UPDATE = "update"


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REVEALING = "revealing"
    REVEALED = "revealed"
    REVOKING = "revoking"
    UPDATING = "updating"
    DONE = "done"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    LAPSED = "lapsed"
    FAILED = "failed"


OPEN_STATES = frozenset({State.PENDING, State.APPROVED, State.REVEALING, State.REVOKING, State.UPDATING})

TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.APPROVED, State.REVOKING, State.UPDATING, State.DENIED, State.EXPIRED,
                              State.CANCELLED}),
    State.APPROVED: frozenset({State.REVEALING, State.LAPSED, State.CANCELLED}),
    State.REVEALING: frozenset({State.REVEALED, State.APPROVED, State.LAPSED, State.FAILED}),
    State.REVEALED: frozenset({State.DONE}),
    State.REVOKING: frozenset({State.DONE}),
    State.UPDATING: frozenset({State.DONE, State.FAILED}),
}


def can_move(src: State, dst: State) -> bool:
    return dst in TRANSITIONS.get(src, frozenset())


# What the approvals message shows for each state.
STATE_LABEL: dict[State, str] = {
    State.PENDING: "Pending approval",
    State.APPROVED: "Approved, waiting for the requester to reveal",
    State.REVEALING: "Approved, key being created",
    State.REVEALED: "Revealed to the requester",
    State.REVOKING: "Approved, revoking",
    State.UPDATING: "Approved, updating the key",
    State.DONE: "Done",
    State.DENIED: "Denied",
    State.EXPIRED: "Expired",
    State.CANCELLED: "Cancelled",
    State.LAPSED: "Lapsed (not revealed in time)",
    State.FAILED: "Failed",
}
