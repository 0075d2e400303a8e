"""What changed in the Slack fake since the last look, as transcript lines.

`Screen.changes()` reads every channel message, thread reply, DM and ephemeral message in the fake and
returns lines for the new ones (oldest first), the edited ones (only what changed) and the ones that
disappeared. Every line has gone through the Redactor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kukey_sandbox.demo.render import Redactor, entry, plain, surface_lines
from kukey_sandbox.slack.fake import SlackFake
from kukey_sandbox.slack.model import Ephemeral, Message
from kukey_sandbox.slack.world import World

Key = tuple[str, str, str]  # (kind, channel or user, ts)


@dataclass(frozen=True)
class Item:
    """One thing on someone's screen, rendered."""

    key: Key
    ts: str
    label: str
    lines: tuple[str, ...]
    indent: str = ""
    most: int = 12

    def render(self, lines: list[str] | None = None, *, label: str | None = None) -> list[str]:
        return entry(label or self.label, list(self.lines) if lines is None else lines, indent=self.indent,
                     most=self.most)


class Screen:
    """Remembers what was shown; `changes()` returns the difference as lines."""

    def __init__(self, fake: SlackFake, redact: Redactor) -> None:
        self.fake, self.redact = fake, redact
        self._seen: dict[Key, Item] = {}

    def names(self) -> dict[str, str]:
        """Slack user id -> user name, the bot included."""
        with self.fake.world.transaction() as w:
            return {uid: u.name for uid, u in w.users.items()}

    def channels(self) -> dict[str, str]:
        """Channel id -> channel name."""
        with self.fake.world.transaction() as w:
            return {cid: c.name for cid, c in w.channels.items()}

    def changes(self) -> list[str]:
        current = {item.key: item for item in self._read()}
        out: list[str] = []
        for item in _merge_copies(sorted((i for k, i in current.items() if k not in self._seen),
                                         key=lambda i: i.ts)):
            out += item.render()
        edits: dict[tuple[str, str], list[Item]] = {}  # the same edit of several messages (DMs) prints once
        for key, item in current.items():
            old = self._seen.get(key)
            if old is not None and old.lines != item.lines:
                edits.setdefault((item.label, _change(old, item)), []).append(item)
        for (_, change), items in edits.items():
            out += _edited(items[0], change, len(items))
        for key, old in self._seen.items():
            if key not in current:
                gist = old.lines[0][:40] + ("…" if len(old.lines[0]) > 40 or len(old.lines) > 1 else "")
                out += old.render([f"(gone from the screen: “{gist}”)"])
        self._seen = current
        return out

    def catch_up(self) -> None:
        """Count everything on screen now as shown, without printing it."""
        self.changes()

    def _read(self) -> list[Item]:
        with self.fake.world.transaction() as w:
            users = {uid: u.name for uid, u in w.users.items()}
            channels = {cid: c.name for cid, c in w.channels.items()}
            items = [self._message(w, m, users, channels) for m in w.posts.values() if not m.deleted]
            items += [self._ephemeral(e, users, channels) for e in w.ephemerals if not e.deleted]
        return items

    def _message(self, w: World, m: Message, users: dict[str, str], channels: dict[str, str]) -> Item:
        author = users.get(m.user, m.user)
        channel = w.channels[m.channel]
        reply = bool(m.thread_ts and m.thread_ts != m.ts)
        if channel.is_im:
            owner = users.get(channel.im_user or "", "")
            label, most = f"[{owner}, DM] {author}:", 8
        elif reply:
            owner, label, most = "", f"↳ [in the thread] {author}:", 4
        else:
            owner, label, most = "", f"[#{channel.name}] {author}:", 12
        lines = self._lines(m.text, m.blocks, users, channels, owner)
        if channel.is_im:
            lines = _brief(lines)
        return Item(("m", m.channel, m.ts), m.ts, label, lines, "    " if reply else "", most)

    def _ephemeral(self, e: Ephemeral, users: dict[str, str], channels: dict[str, str]) -> Item:
        owner = users.get(e.user, e.user)
        lines = self._lines(e.text, e.blocks, users, channels, owner)
        return Item(("e", e.user, e.ts), e.ts, f"[{owner}, only visible to you]", lines, "", 8)

    def _lines(self, text: str, blocks: list[dict[str, object]], users: dict[str, str],
               channels: dict[str, str], owner: str) -> tuple[str, ...]:
        shown = surface_lines(text, blocks)
        return tuple(self.redact(plain(line, users, channels), owner=owner or "its owner") for line in shown)


def _brief(lines: tuple[str, ...]) -> tuple[str, ...]:
    """A direct message that carries a request as posted (an approver's DM): its own sentence and the
    request's title, then only its buttons; the rest is what the approvals channel already shows."""
    if len(lines) <= 4:
        return lines
    buttons = lines[-1:] if lines[-1].startswith("[") else ()
    return (*lines[:2], "… (the request as posted in the approvals channel)", *buttons)


def _change(old: Item, new: Item) -> str:
    """What an edit changed, in one line: the lines that changed; a replaced ephemeral: "" (all of it)."""
    if new.key[0] == "e":
        return ""
    changed = [line for line in new.lines if line not in old.lines and not line.startswith("[")]
    if any(line.startswith("[") for line in old.lines) and not any(line.startswith("[") for line in new.lines):
        changed.append("(buttons removed)")
    return " · ".join(changed) or "(no visible change)"


def _edited(new: Item, change: str, count: int) -> list[str]:
    """A message edited in place (or `count` messages edited alike): what changed; a replaced ephemeral:
    all of it."""
    if new.key[0] == "e":
        return new.render(label=new.label + " (replaced)")
    label = new.label.rstrip(":") + (f" edited ({count} messages):" if count > 1 else " edited:")
    return new.render([change], label=label)


def _merge_copies(items: list[Item]) -> list[Item]:
    """The same new post in several channels (an incident revoke is announced twice) prints once."""
    out: list[Item] = []
    for item in items:
        twin = next((o for o in out if o.key[0] == "m" == item.key[0] and not o.indent and not item.indent
                     and o.lines == item.lines and o.label.split("] ")[1:] == item.label.split("] ")[1:]), None)
        if twin is None:
            out.append(item)
            continue
        where = item.label.split("]")[0].lstrip("[")
        out[out.index(twin)] = replace(twin, label=twin.label.replace("]", f" and {where}]", 1))
    return out
