"""The outbox: messages kukey owes the people concerned, written in the transaction of the change they
report and delivered afterwards (bot.services.delivery), each exactly once, in order within its stream.

    pending  -> running (claimed, with a lease) -> sent
                                               -> pending (failed: tried again at `run_at`, with backoff)
                                               -> given_up (failed past its deadline, or refused for good)
                                               -> dropped (it needed a request's thread that was never posted)

A running item whose lease ran out (its process died) is claimed again; its outcome is then unknown, so it
is looked for in Slack before it is sent again. The values are stored: a value never changes once released.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

# How long kukey keeps trying one message before it gives up (audit event, admins told): long enough
# for most Slack incidents. A request's post is given up sooner, halfway to the request's expiry at the
# latest, and the request is then cancelled and its requester told: it must not expire unseen.
GIVE_UP_AFTER = timedelta(minutes=30)
# Within one claim: how long to keep repeating a delivery whose outcome is unknown (after looking for it),
# like slack_sdk's own retries, before the item goes back to the table to be tried again later.
DELIVERY_BUDGET = timedelta(seconds=6)
BACKOFF_FIRST, BACKOFF_MAX = 2.0, 60.0  # seconds between claims: doubling from the first up to the most


# The parameters the dispatcher itself reads (the rest is the transport's business).
SETS_THREAD = "sets_thread"  # a request's post: where it lands becomes the request's thread
LINKS_THREAD = "link"  # a note carrying the link to its request's post (bound when it is sent)
ABOUT_A_GIVE_UP = "given_up"  # the admins' note about a give-up: not reported again if it is given up
THREAD = "thread"  # [channel, ts] of the request's post, when it was known as the message was owed
FOLLOWS = "follows"  # a direct message about a request, rendered again once it is resolved (Op.UPDATE_DIRECT)


class OutboxState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SENT = "sent"
    GIVEN_UP = "given_up"
    DROPPED = "dropped"


OPEN = (OutboxState.PENDING, OutboxState.RUNNING)


class Op(StrEnum):
    """What a message is, as the transport that delivers it knows it."""

    POST = "post"  # a message in a channel (a request's post sets the request's thread)
    REPLY = "reply"  # a note in a request's thread
    UPDATE = "update"  # the request's post, rendered again
    PRIVATE = "private"  # to one person: ephemeral where they acted, else a direct message
    UPDATE_DIRECT = "update_direct"  # every direct message sent about the request (FOLLOWS), rendered again


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds until the next claim after `attempts` failed claims; never sooner than Slack's Retry-After."""
    wait: float = min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** max(0, attempts - 1))
    return max(wait, retry_after or 0.0)


def needs_thread(op: str, params: Mapping[str, Any]) -> bool:
    """Bound to the thread of its request's post: a reply, an update, a private note linking to the post."""
    return op in (Op.REPLY, Op.UPDATE) or bool(params.get(LINKS_THREAD))
