"""The things a Slack workspace holds, as the fake stores them and as tests read them.

Queries on the fake return deep copies of these, so a test never races the server threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kukey_sandbox.slack import blocks as bk


@dataclass
class User:
    id: str
    name: str
    real_name: str
    deleted: bool = False
    is_bot: bool = False
    email: str | None = None

    def to_api(self, team_id: str) -> dict[str, Any]:
        profile: dict[str, Any] = {"real_name": self.real_name, "display_name": self.name}
        if self.email:
            profile["email"] = self.email
        return {
            "id": self.id, "team_id": team_id, "name": self.name, "deleted": self.deleted,
            "real_name": self.real_name, "is_bot": self.is_bot, "is_app_user": False,
            "is_admin": False, "tz": "Europe/Berlin", "profile": profile,
        }


@dataclass
class Channel:
    id: str
    name: str
    members: set[str] = field(default_factory=set)
    is_private: bool = False
    is_im: bool = False
    is_archived: bool = False
    im_user: str | None = None
    created: int = 0

    def to_api(self, bot_user_id: str) -> dict[str, Any]:
        if self.is_im:
            return {"id": self.id, "created": self.created, "is_im": True, "is_org_shared": False,
                    "user": self.im_user, "is_open": True}
        return {
            "id": self.id, "name": self.name, "is_channel": not self.is_private, "is_group": self.is_private,
            "is_im": False, "is_mpim": False, "is_private": self.is_private, "is_archived": self.is_archived,
            "is_general": False, "created": self.created, "is_member": bot_user_id in self.members,
            "num_members": len(self.members),
        }


@dataclass
class Usergroup:
    id: str
    handle: str
    users: list[str] = field(default_factory=list)


@dataclass
class Content:
    """Text and blocks, with the readings tests need."""

    text: str
    blocks: list[dict[str, Any]]

    @property
    def buttons(self) -> list[bk.Button]:
        return bk.buttons(self.blocks)

    @property
    def button_labels(self) -> list[str]:
        return [b.label for b in self.buttons]

    @property
    def content(self) -> str:
        """The text and every text in the blocks, one per line: what a person reads."""
        return "\n".join([self.text, *bk.texts(self.blocks)]).strip()


@dataclass
class Message(Content):
    channel: str = ""
    ts: str = ""
    user: str = ""
    bot_id: str | None = None
    thread_ts: str | None = None
    replies: list[str] = field(default_factory=list)
    reply_broadcast: bool = False
    edits: int = 0
    deleted: bool = False
    metadata: dict[str, Any] | None = None  # what the app posted with it: event_type and event_payload

    def to_api(self, team_id: str, app_id: str, *, with_metadata: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "user": self.user, "text": self.text, "blocks": self.blocks,
                               "ts": self.ts, "team": team_id}
        if self.metadata is not None and with_metadata:
            out["metadata"] = self.metadata
        if self.bot_id:
            out.update(bot_id=self.bot_id, app_id=app_id)
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.replies:
            out.update(reply_count=len(self.replies), latest_reply=self.replies[-1])
        if self.edits:
            out["edited"] = {"user": self.user, "ts": self.ts}
        return out


@dataclass
class Ephemeral(Content):
    """What one user sees privately in a channel until it is replaced or deleted."""

    channel: str = ""
    ts: str = ""
    user: str = ""  # the recipient
    thread_ts: str | None = None
    via: str = "api"  # api | ack | response_url
    deleted: bool = False


@dataclass
class View:
    """A modal in a user's view stack, or a user's Home tab (`is_home`)."""

    id: str
    user: str
    spec: dict[str, Any]  # what the app sent: type, title, blocks, submit, close, callback_id, ...
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    state: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    closed: bool = False
    publications: int = 1  # a Home tab: how many times views.publish set it

    @property
    def is_home(self) -> bool:
        return self.spec.get("type") == "home"

    @property
    def callback_id(self) -> str:
        return str(self.spec.get("callback_id") or "")

    @property
    def private_metadata(self) -> str:
        return str(self.spec.get("private_metadata") or "")

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = self.spec.get("blocks") or []
        return blocks

    @property
    def title(self) -> str:
        title = self.spec.get("title")
        return str(title.get("text", "")) if isinstance(title, dict) else ""

    @property
    def buttons(self) -> list[bk.Button]:
        return bk.buttons(self.blocks)

    @property
    def content(self) -> str:
        return "\n".join([self.title, *bk.texts(self.blocks)]).strip()

    def to_api(self, *, team_id: str, app_id: str, bot_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "team_id": team_id, "type": "modal", "private_metadata": "", "callback_id": "",
            "external_id": "", "clear_on_close": False, "notify_on_close": False, "close": None,
            "submit": None,
        }
        out.update(self.spec)
        out.update(
            state={"values": self.state}, hash=self.hash, root_view_id=self.root_view_id,
            previous_view_id=self.previous_view_id, app_id=app_id, app_installed_team_id=team_id,
            bot_id=bot_id,
        )
        return out


@dataclass(frozen=True)
class Ref:
    """Where an interaction came from: a channel message, an ephemeral message, or nothing (a command)."""

    channel: str
    ts: str | None = None
    ephemeral: bool = False


@dataclass
class Trigger:
    id: str
    user: str
    issued_at: datetime
    view_id: str | None = None  # set when the interaction happened inside a modal
    used: bool = False


@dataclass
class ResponseUrl:
    id: str
    url: str = field(repr=False)  # the last path segment works like a password
    user: str
    channel: str
    issued_at: datetime
    source: Ref | None  # None for a slash command until its first response lands
    thread_ts: str | None = None
    uses: int = 0


@dataclass(frozen=True)
class Call:
    """One Web API call as the fake received it (the token is never recorded)."""

    method: str
    params: dict[str, Any]
    response: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        error = self.response.get("error")
        return str(error) if error is not None else None


@dataclass
class Envelope:
    """A Socket Mode envelope sent to the app and what came back."""

    id: str
    type: str
    payload: dict[str, Any] = field(repr=False)  # carries a response_url
    acked: bool = False
    late: bool = False
    lost: bool = False  # its connection died before the ack came
    ack_payload: dict[str, Any] | None = None


@dataclass(frozen=True)
class EventPost:
    """One Events API delivery over HTTP (retries are deliveries too) and the app's HTTP status (0: no
    answer in time)."""

    event_id: str
    type: str
    retry_num: int
    status: int


@dataclass
class Visible:
    """Everything one user can see right now."""

    messages: list[Message]
    ephemerals: list[Ephemeral]
    modal: View | None

    @property
    def content(self) -> str:
        parts = [m.content for m in self.messages] + [e.content for e in self.ephemerals]
        if self.modal is not None:
            parts.append(self.modal.content)
        return "\n".join(parts)
