"""What the people of `kukey demo` do, and how the story waits for and prints what they see: the part of
the story that is not one of its steps (kukey_sandbox.demo.story). Every action goes through the Slack
driver the way a person acts (signed slash commands, clicks, modal submissions, real TOTP codes).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bot.errors import KukeyError
from kukey_sandbox.demo.render import CODE_MASK, Redactor, block_lines, entry, plain
from kukey_sandbox.demo.screen import Screen
from kukey_sandbox.slack.failures import SlackDriverError
from kukey_sandbox.world import APPROVALS, KukeyWorld

SUB = "alpha-trading"
REQUEST_ID = re.compile(r"\(request `(KK-[0-9A-Z]+)`\)")


class StepFailed(KukeyError):
    """A step of the demo did not happen as it should (the message names the step)."""


class Acting:
    """What people do in the story on `world`; `emit` prints one transcript line."""

    def __init__(self, world: KukeyWorld, emit: Callable[[str], None]) -> None:
        self.w, self.emit = world, emit
        self.redact = Redactor(known=lambda: list(world.seeds.values()))
        self.screen = Screen(world.fake, self.redact)
        self.names = self.screen.names()
        self._prompts_shown: set[str] = set()

    # what people do --------------------------------------------------------------------------------
    def slash(self, user: str, channel: str, text: str, *, wait_post: bool = False) -> Any:
        name = self.w.fake.world.channels[channel].name
        self.emit(f"  > {self.names[user]} types in #{name}: /kukey {text}")
        before = len(self.w.fake.messages(APPROVALS))
        ack = self.w.driver.slash(user, channel, text)
        if not ack.ok:
            raise StepFailed(f"Slack could not deliver /kukey {text.split()[0]} (HTTP {ack.status})")
        if not wait_post:
            return None
        post = self.w.wait(lambda: self.w.fake.messages(APPROVALS)[before]
                           if len(self.w.fake.messages(APPROVALS)) > before else None, what="the request post")
        self.private(user, f"Request `{request_id(post)}` was posted for approval")
        return post

    def home(self, user: str, needle: str) -> None:
        """The user opens kukey's Home tab; print it once it shows `needle`."""
        name = self.names[user]
        self.emit(f"  > {name} opens kukey's Home tab")
        if not self.w.driver.open_home(user).ok:
            raise StepFailed("Slack could not deliver app_home_opened")
        shown = self.w.home_shows(user, needle)
        lines = [plain(line, self.names, self.screen.channels()) for line in block_lines(shown.blocks)]
        for line in entry(f"[{name}, kukey's Home tab]", lines, most=20):
            self.emit(self.redact(line, owner=name))

    def click(self, user: str, label: str, *, where: str = "", **narrow: Any) -> None:
        self.emit(f"  > {self.names[user]} clicks [{label}]" + (f" {where}" if where else ""))
        self.w.driver.click(user, label, **narrow)

    def enter_code(self, user: str, *, also: tuple[str, str] | None = None) -> None:
        """Wait for the user's code prompt, print it, type their current TOTP code (and `also`: what they
        type in the form's other field, and how to say it) and submit."""
        view = self.w.wait(lambda: self.w.fake.modal(user), what=f"a code prompt for {self.names[user]}")
        submit = (view.spec.get("submit") or {}).get("text", "Submit")
        values = {"code": self.w.code(user)}
        if also is not None:
            values[next(b["block_id"] for b in view.blocks if b.get("type") == "input" and b["block_id"] != "code")] \
                = also[0]
        typed = (f"{self.names[user]} types {also[1] + ', ' if also else ''}the code from the app ({CODE_MASK}) "
                 f"and clicks [{submit}]")
        if view.title in self._prompts_shown:  # the same prompt as before: one line
            lines = [typed]
        else:
            lines = [line for line in block_lines(view.blocks) if not line.endswith("[______]")] + [typed]
            self._prompts_shown.add(view.title)
        for line in entry(f'[{self.names[user]}, modal "{view.title}"]', lines):
            self.emit(self.redact(line, owner=self.names[user]))
        result = self.w.driver.submit(user, values)
        if result.errors:
            raise StepFailed(f"the code of {self.names[user]} was refused: {list(result.errors.values())}")

    # waiting and printing --------------------------------------------------------------------------
    def private(self, user: str, needle: str) -> Any:
        """Wait for what only `user` sees (an ephemeral message, or a direct message) to say `needle`."""
        def told() -> Any:
            found = next((e for e in self.w.fake.ephemerals(user) if needle in e.content), None)
            return found or next((m for m in self.w.fake.messages(self.w.fake.dm(user)) if needle in m.content), None)
        return self.w.wait(told, what=f"{self.names[user]} is told {needle!r}")

    def in_thread(self, post: Any, needle: str) -> None:
        self.w.wait(lambda: any(needle in m.content for m in self.w.fake.thread(APPROVALS, post.ts)),
                    what=f"the thread says {needle!r}")

    def in_any_thread(self, needle: str) -> None:
        fake = self.w.fake
        self.w.wait(lambda: any(needle in m.content for p in fake.messages(APPROVALS)
                                for m in fake.thread(APPROVALS, p.ts)), what=f"the thread says {needle!r}")

    def kucoin(self, claim: str, expected: list[str], *, sub: str = SUB) -> None:
        """Check the KuCoin sandbox itself and say what it holds."""
        keys = sorted(k["api_key"] for k in self.w.sandbox.keys(sub))
        if keys != sorted(expected):
            raise StepFailed(f"KuCoin holds {keys} for {sub}, expected {sorted(expected)}")
        for line in entry("  = KuCoin sandbox:", [claim]):
            self.emit(line)

    def show(self) -> None:
        for line in self.screen.changes():
            self.emit(line)

    @contextmanager
    def step(self, number: int, title: str) -> Iterator[None]:
        self.emit(f"── {number}. {title}")
        started = time.monotonic()
        try:
            yield
        except (AssertionError, SlackDriverError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StepFailed(f"step {number} ({title}) did not complete after "
                             f"{time.monotonic() - started:.1f} s: {self.redact(first)}") from None



def request_id(post: Any) -> str:
    found = REQUEST_ID.search(post.content)
    if found is None:
        raise StepFailed("the request post names no request id")
    return found.group(1)
