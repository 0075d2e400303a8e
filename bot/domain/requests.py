"""Request kinds, states and the transitions kukey allows.

    create/rotate:  pending -> approved -> revealing -> revealed -> (rotate) old key deleted -> done
    revoke:         pending -> approved -> revoking -> done
    any pending:    -> denied | expired | cancelled
    approved:       -> lapsed (reveal window passed)
    revealing:      -> approved (KuCoin busy / delivery failed / crash: the key is undone, try again)
                    -> failed   (KuCoin refused for good)

`revealing` is the only state in which a key may exist at KuCoin whose secret nobody has received;
recovery deletes such a key by its remark (the request id) and returns the request to `approved`.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    CREATE = "create"
    ROTATE = "rotate"
    REVOKE = "revoke"


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REVEALING = "revealing"
    REVEALED = "revealed"
    REVOKING = "revoking"
    DONE = "done"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    LAPSED = "lapsed"
    FAILED = "failed"


OPEN_STATES = frozenset({State.PENDING, State.APPROVED, State.REVEALING, State.REVOKING})
FINAL_STATES = frozenset(State) - OPEN_STATES - {State.REVEALED}

TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.APPROVED, State.DENIED, State.EXPIRED, State.CANCELLED}),
    State.APPROVED: frozenset({State.REVEALING, State.REVOKING, State.LAPSED, State.CANCELLED}),
    State.REVEALING: frozenset({State.REVEALED, State.APPROVED, State.FAILED}),
    State.REVEALED: frozenset({State.DONE}),
    State.REVOKING: frozenset({State.DONE, State.FAILED}),
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
    State.DONE: "Done",
    State.DENIED: "Denied",
    State.EXPIRED: "Expired",
    State.CANCELLED: "Cancelled",
    State.LAPSED: "Lapsed (not revealed in time)",
    State.FAILED: "Failed",
}
