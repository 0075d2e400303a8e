"""The interfaces services need from the outside world. Adapters implement them; tests use the real
adapters against the sandboxes.

Services never see a Slack payload: the Slack layer turns payloads into calls with plain values, and
services speak back through `Notifier`, which plans messages for event names (bot.slack.notifier renders
them); the services put the plans in the outbox, in the transaction of the change, and the `Courier`
delivers them afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.domain.exchange import CreatedKey, ExchangeKey, KeyIds, SubAccount, UpdatedKey
from bot.domain.keys import KeySpec, Permission
from bot.domain.outbox import Op
from bot.domain.reminders import KeyReminder
from bot.domain.secret import Secret

if TYPE_CHECKING:
    from bot.services.digest import Digest


@dataclass(frozen=True)
class RequestView:
    """A read-only snapshot of a request, for rendering."""

    id: str
    kind: str
    state: str
    requester: str
    sub_account: str
    permissions: frozenset[Permission]
    ips: tuple[str, ...]
    expire_days: int | None
    reason: str
    approvals_needed: int
    approvers: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    incident: bool = False
    target_api_key: str | None = None
    revoke_all: bool = False
    grace_minutes: int | None = None
    new_api_key: str | None = None
    granted_permissions: frozenset[Permission] | None = None
    origin_channel: str = ""
    channel: str = ""
    thread_ts: str | None = None
    reveal_deadline: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution_note: str = ""
    # an update while it waits for approval: what the key holds now (the request holds the new settings)
    key_permissions: frozenset[Permission] | None = None
    key_ips: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Delivery:
    """Where to show a secret: the response_url of the requester's Reveal click (ephemeral only)."""

    response_url: str
    user: str


class Exchange(Protocol):
    """Where the keys live (KuCoin: bot.kucoin.exchange.KucoinExchange). Takes and returns domain types;
    failures are bot.errors.ExchangeError: ExchangeRejected (final), ExchangeUnavailable (try later),
    ExchangeOutcomeUnknown (a create whose answer was lost and whose key was not found again)."""

    @property
    def name(self) -> str:
        """The exchange's name, as people read it in messages ("KuCoin")."""
        ...

    @property
    def max_parallel_deletes(self) -> int:
        """How many deletes may be in flight at once (the exchange's own rate limits decide)."""
        ...

    @property
    def key_ids(self) -> KeyIds:
        """What this exchange's API key ids look like (the command parser refuses other shapes)."""
        ...

    def new_passphrase(self) -> Secret:
        """A fresh passphrase for a new key, in a form the exchange accepts."""
        ...

    def create_key(self, spec: KeySpec, *, passphrase: Secret, remark: str) -> CreatedKey:
        """Create a key; `remark` (kukey's request id) finds it again when the answer is lost."""
        ...

    def list_keys(self, sub_account: str) -> list[ExchangeKey]: ...

    def update_key(self, api_key: str, spec: KeySpec, *, passphrase: Secret) -> UpdatedKey:
        """Set an existing key's permissions and IP whitelist to `spec` (its whole intended state: the
        expiry is sent as it is); `passphrase` is the key's own. The secret does not change."""
        ...

    def delete_key(self, sub_account: str, api_key: str, passphrase: Secret) -> bool:
        """True: deleted now; False: it was already gone (which counts as deleted)."""
        ...

    def delete_wait(self, deletes: int) -> float:
        """The least seconds `deletes` more deletes take under the exchange's rate limits, as it knows them
        now (0 when they all fit at once): what a kill switch's "time left" is estimated from."""
        ...

    def ready_deletes(self, sub_account: str, deletes: int) -> None:
        """`deletes` deletes in `sub_account` are about to be asked for (an incident revoke's form is open):
        learn now what the exchange's rate limits allow, if that is not known, and open the connections they
        will need, so that they can all go out at once when asked. Best effort: raises nothing."""
        ...

    def list_sub_accounts(self) -> list[SubAccount]: ...


@dataclass(frozen=True)
class Planned:
    """One message as the Notifier plans it, to be delivered later from the outbox (bot.services.outbox):
    an operation the Courier knows (bot.domain.outbox.Op), its JSON-ready parameters (never a secret),
    and its stream (messages of one stream are delivered one at a time, in order)."""

    op: Op
    params: dict[str, Any]
    stream: str


@dataclass(frozen=True)
class Parcel:
    """What the dispatcher hands the Courier: a planned message, its outbox key (to find it again in Slack),
    the thread of its request when it has one, and whether an earlier attempt may have landed."""

    op: str
    params: Mapping[str, Any]
    key: str
    thread: tuple[str, str] | None = None  # (channel, ts) of the request's post
    uncertain: bool = False
    # Op.UPDATE_DIRECT: (channel, ts) of each direct message sent about the request so far
    direct: tuple[tuple[str, str], ...] = ()


class Notifier(Protocol):
    """Plans what people are told (rendered now, from the snapshot taken in the transaction), and the few
    things said at once: a private reply, a response_url answer, a secret."""

    def plan(self, name: str, req: RequestView, **fields: Any) -> list[Planned]:
        """The messages telling the people concerned that `name` happened (the request's post, its thread
        and parent, the requester, channels)."""
        ...

    def plan_announce(self, channels: list[str], text: str) -> list[Planned]: ...

    def plan_given_up(self, admins: frozenset[str], *, op: str, error: str, request_id: str | None,
                      cancelled: bool) -> list[Planned]:
        """Direct messages to the admins: a message was given up (and its request cancelled)."""
        ...

    def plan_reminder(self, reminder: KeyReminder) -> list[Planned]:
        """A direct message to a key's owner: it expires soon, or is due for rotation; with a Rotate button
        that files what `/kukey rotate <sub-account> <apiKey>` files."""
        ...

    def plan_digest(self, admins: frozenset[str], digest: Digest) -> list[Planned]:
        """Direct messages to the admins: the weekly digest."""
        ...

    def tell(self, user: str, text: str, *, channel: str | None = None) -> None:
        """A private note to one user: ephemeral in `channel` when possible, else a direct message."""
        ...

    def respond(self, response_url: str, payload: dict[str, Any]) -> bool:
        """Answer through a response_url (replace or add an ephemeral); False when Slack refused."""
        ...

    def deliver_secret(self, delivery: Delivery, req: RequestView, key: Mapping[str, Any],
                       secret: Secret, passphrase: Secret) -> None:
        """Show apiKey, secret and passphrase once, ephemerally. Raises on failure."""
        ...

    def spend_offer(self, delivery: Delivery, request_id: str) -> None:
        """Replace the revealed request's offer (its Reveal button is spent); best effort."""
        ...


class Courier(Protocol):
    """Delivers what the outbox holds (Slack: bot.slack.courier)."""

    def deliver(self, parcel: Parcel) -> dict[str, str]:
        """Send one message; where it landed ({"channel", "ts"} for a post, else {}). Raises
        bot.errors.NotDelivered, saying whether to try again, when, and whether it may have landed."""
        ...


class Directory(Protocol):
    def members(self, ids: frozenset[str]) -> frozenset[str]:
        """Resolve user ids and user-group ids (S...) to the set of user ids."""
        ...


@dataclass
class Outcome:
    """What a service call did, for the Slack layer to render: ok, a sentence, and extras."""

    ok: bool
    message: str = ""
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)
