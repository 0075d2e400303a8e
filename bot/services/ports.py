"""The interfaces services need from the outside world. Adapters implement them; tests use the real
adapters against the sandboxes.

Services never see a Slack payload: the Slack layer turns payloads into calls with plain values, and
services speak back through `Notifier` with event names that bot.slack.notifier renders into messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.domain.exchange import CreatedKey, ExchangeKey, KeyIds, SubAccount
from bot.domain.keys import KeySpec, Permission
from bot.domain.secret import Secret


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

    def delete_key(self, sub_account: str, api_key: str, passphrase: Secret) -> bool:
        """True: deleted now; False: it was already gone (which counts as deleted)."""
        ...

    def list_sub_accounts(self) -> list[SubAccount]: ...


class Notifier(Protocol):
    def post_request(self, req: RequestView) -> tuple[str, str]:
        """Post the request to the approvals channel; returns (channel, ts) of its thread."""
        ...

    def event(self, name: str, req: RequestView, **fields: Any) -> None:
        """Tell the people concerned that `name` happened (thread, parent update, requester, channels)."""
        ...

    def tell(self, user: str, text: str, *, channel: str | None = None) -> None:
        """A private note to one user: ephemeral in `channel` when possible, else a direct message."""
        ...

    def announce(self, channels: list[str], text: str) -> None: ...

    def respond(self, response_url: str, payload: dict[str, Any]) -> bool:
        """Answer through a response_url (replace or add an ephemeral); False when Slack refused."""
        ...

    def deliver_secret(self, delivery: Delivery, req: RequestView, key: Mapping[str, Any],
                       secret: Secret, passphrase: Secret) -> None:
        """Show apiKey, secret and passphrase once, ephemerally. Raises on failure."""
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
