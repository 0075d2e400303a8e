"""`kukey demo --keep`: act as any demo user over a small HTTP endpoint on 127.0.0.1.

POST {"user": "alice", "command": "/kukey pending"} to the control URL (it carries a random path token);
the answer is {"lines": [...]}: what changed in Slack after the command, rendered and masked like the
demo transcript. Commands, after the user name:

    [#channel] /kukey TEXT   a slash command (default channel #trading)
    click LABEL              click the newest button LABEL the user can see (else the one on their Home tab)
    home                     open kukey's Home tab and show it
    code                     type the user's current TOTP code into their open prompt and submit it
    submit FIELD=VALUE       fill one field of the open modal (e.g. reason=too broad) and submit it
    look                     what the user sees privately now (the newest messages only they see, the modal)
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from typing import Any

from kukey_sandbox.demo.render import CODE_MASK, block_lines, entry, seed_in
from kukey_sandbox.demo.story import DemoStory
from kukey_sandbox.slack.failures import NoSuchButton, SlackDriverError
from kukey_sandbox.slack.model import View
from kukey_sandbox.world import TRADING, KukeyWorld

HELP = ("commands: USER [#channel] /kukey TEXT | USER click LABEL | USER code | USER submit FIELD=VALUE | "
        "USER look | USER home   (users: alice, bob, carol, dave, eve, frank)")
QUIET_S = 0.3  # the answer is complete when Slack has been quiet this long
MOST_S = 5.0
LOOK_MOST = 5  # `look` shows the newest private messages


class CommandError(Exception):
    """The command could not be done; the message says why (no secrets in it)."""


class DemoControl:
    """Runs one demo command as a user and returns what changed in Slack."""

    def __init__(self, world: KukeyWorld, story: DemoStory) -> None:
        self.w, self.story = world, story
        self.ids = {name: uid for uid, name in story.names.items() if uid != world.fake.bot_user_id}
        self._lock = threading.Lock()
        self._modals: dict[str, str] = {}

    def run(self, user: str, command: str) -> list[str]:
        uid = self.ids.get(user.lower().lstrip("@"))
        if uid is None:
            raise CommandError(f"no demo user {user!r}; {HELP}")
        with self._lock:
            self.story.screen.catch_up()
            done = self._act(uid, command.strip())
            return done + self._settle(uid)

    def _act(self, uid: str, command: str) -> list[str]:
        name = self.story.names[uid]
        verb, _, rest = command.partition(" ")
        try:
            if verb.startswith(("/", "#")):
                channel, slash = (verb, rest) if verb.startswith("#") else (TRADING, command)
                if not slash.startswith("/kukey"):
                    raise CommandError(f"only /kukey is installed here; {HELP}")
                ack = self.w.driver.slash(uid, channel, slash.removeprefix("/kukey").strip())
                if not ack.ok:
                    raise CommandError(f"Slack could not deliver the command (HTTP {ack.status})")
                return [f"  > {name} types: {slash}"]
            if verb == "click" and rest:
                return self._click(uid, rest.strip())
            if verb == "home":
                return self._home(uid)
            if verb == "code":
                self._ensure_seed(uid)
                self._submit(uid, {"code": self.w.code(uid)})
                return [f"  > {name} types the code from the app ({CODE_MASK}) and submits"]
            if verb == "submit" and "=" in rest:
                field, _, value = rest.partition("=")
                self._submit(uid, {field.strip(): value.strip()})
                return [f"  > {name} fills in {field.strip()} and submits"]
            if verb == "look":
                return self._look(uid)
        except SlackDriverError as exc:
            raise CommandError(self._named(str(exc))) from None
        raise CommandError(HELP)

    def _click(self, uid: str, label: str) -> list[str]:
        name = self.story.names[uid]
        try:
            self.w.driver.click(uid, label)
        except NoSuchButton:
            if self.w.fake.home(uid) is None:
                raise
            self.w.driver.click(uid, label, home=True)
            return [f"  > {name} clicks [{label}] on kukey's Home tab"]
        return [f"  > {name} clicks [{label}]"]

    def _home(self, uid: str) -> list[str]:
        name = self.story.names[uid]
        home = self.w.open_home(uid)
        return [f"  > {name} opens kukey's Home tab", *(self.story.redact(line, owner=name) for line in entry(
            f"[{name}, kukey's Home tab]", block_lines(home.blocks), most=40))]

    def _named(self, text: str) -> str:
        """A driver message for people: user ids as names, secrets masked."""
        for uid, name in self.story.names.items():
            text = text.replace(uid, name)
        return self.story.redact(text)

    def _submit(self, uid: str, values: dict[str, Any]) -> None:
        result = self.w.driver.submit(uid, values)
        if result.errors:
            raise CommandError("the modal says: " + "; ".join(result.errors.values()))

    def _ensure_seed(self, uid: str) -> None:
        """A user enrolled by hand (`/kukey enroll`): read their seed from what kukey showed them."""
        if uid in self.w.seeds:
            return
        shown = [e.content for e in self.w.fake.ephemerals(uid)]
        modal = self.w.fake.modal(uid)
        seed = seed_in(" ".join(shown + ([modal.content] if modal else [])))
        if seed is None:
            raise CommandError(f"{self.story.names[uid]} has no authenticator yet: `/kukey enroll` first")
        self.w.seeds[uid] = seed

    def _look(self, uid: str) -> list[str]:
        name = self.story.names[uid]
        lines: list[str] = []
        for e in self.w.fake.ephemerals(uid)[-LOOK_MOST:]:
            lines += entry(f"[{name}, only visible to you]", [self.story.redact(line, owner=name)
                                                            for line in block_lines(e.blocks) or [e.text]])
        modal = self.w.fake.modal(uid)
        return lines + (self._modal_lines(uid, modal) if modal else []) or [f"  ({name} sees nothing private)"]

    def _modal_lines(self, uid: str, view: View) -> list[str]:
        name = self.story.names[uid]
        return [self.story.redact(line, owner=name)
                for line in entry(f'[{name}, modal "{view.title}"]', block_lines(view.blocks))]

    def _settle(self, uid: str) -> list[str]:
        """Collect what changes until Slack is quiet, then the user's newly opened modal, if any."""
        lines: list[str] = []
        start = last = time.monotonic()
        while time.monotonic() - start < MOST_S and time.monotonic() - last < QUIET_S:
            new = self.story.screen.changes()
            if new:
                lines, last = lines + new, time.monotonic()
            with self.w.fake.world.changed:
                self.w.fake.world.changed.wait(0.05)
        lines += self.story.screen.changes()
        modal = self.w.fake.modal(uid)
        if modal is not None and self._modals.get(uid) != modal.hash:
            self._modals[uid] = modal.hash
            lines += self._modal_lines(uid, modal)
        return lines


class ControlServer:
    """The control endpoint on 127.0.0.1 (port chosen by the OS). Use as a context manager."""

    def __init__(self, world: KukeyWorld, story: DemoStory, *, echo: Callable[[str], None] | None = None) -> None:
        self.control = DemoControl(world, story)
        self.token = secrets.token_urlsafe(9)
        self._echo = echo or (lambda line: None)
        self._server = HTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="kukey-demo-control", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{self.token}"

    def __enter__(self) -> ControlServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            asked = json.loads(body or b"{}")
            user, command = str(asked["user"]), str(asked["command"])
        except (ValueError, KeyError, TypeError):
            return 400, {"error": 'send JSON {"user": "alice", "command": "/kukey help"}'}
        try:
            lines = self.control.run(user, command)
        except (CommandError, AssertionError) as exc:
            return 400, {"error": self.control.story.redact(str(exc).splitlines()[0] if str(exc) else "failed")}
        self._echo(f"  (from the control endpoint: {user} {command.split(' ')[0]} …)")
        for line in lines:
            self._echo(line)
        return 200, {"lines": lines}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/" + server.token:
                    return self._send(404, {"error": "not found"})
                length = min(int(self.headers.get("Content-Length") or 0), 64 * 1024)
                self._send(*server.answer(self.rfile.read(length)))

            def _send(self, status: int, answer: dict[str, Any]) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the demo terminal shows the commands themselves

        return Handler


def instructions(world: KukeyWorld, url: str) -> list[str]:
    """How to reach what keeps running, and how to act as a demo user."""
    send = f"{sys.executable} -m kukey_sandbox.demo.send"
    return [
        "── Still running (Ctrl-C stops everything):",
        f"  KuCoin sandbox   {world.sandbox.url}",
        f"  Slack fake       {world.fake.api_url}  (Web API)",
        f"  kukey bot        {world.driver.url}  (where Slack posts commands and clicks)",
        f"  demo control     {url}",
        "Act as alice, bob, carol, dave (all enrolled), eve or frank from another terminal:",
        f"  export KUKEY_DEMO_URL={url}",
        f"  {send} alice /kukey create beta-spot perms=Spot ips=203.0.113.7 expire=30 testing",
        f"  {send} bob click Approve",
        f"  {send} bob code            (bob's current TOTP code into his open prompt)",
        f"  {send} dave '#incident' /kukey revoke beta-spot all",
        f"  {send}                     (no command: a prompt; type `alice /kukey help`)",
        "Commands after the user: [#channel] /kukey ..., click LABEL, code, submit FIELD=VALUE, look, home.",
    ]
