"""The story `kukey demo` plays on a KukeyWorld, printing what each person sees in Slack.

Every step acts the way a person does (signed slash commands, button clicks and modal submissions through
the Slack driver, real TOTP codes), waits for the bot's answer to arrive in the Slack fake, then prints
whatever changed there. Codes, secrets, passphrases and seeds are masked by the Redactor.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot.errors import KukeyError
from kukey_sandbox.demo.render import CODE_MASK, Redactor, block_lines, entry, plain, seed_in
from kukey_sandbox.demo.screen import Screen
from kukey_sandbox.slack.failures import SlackDriverError
from kukey_sandbox.world import APPROVALS, APPROVER, APPROVER2, INCIDENT, REQUESTER, RESPONDER, TRADING, KukeyWorld

SUB = "alpha-trading"
CREATE = f"create {SUB} perms=Spot ips=203.0.113.5 expire=30 market-making bot"
IPS_AFTER = "203.0.113.5,203.0.113.6"
_API_KEY = re.compile(r"API key:\*? `([0-9a-f]{24})`")
_REQUEST_ID = re.compile(r"\(request `(KK-[0-9A-Z]+)`\)")
_VERIFIED = re.compile(r"OK: (\d+) events verified")


class StepFailed(KukeyError):
    """A step of the demo did not happen as it should (the message names the step)."""


@dataclass
class Outcome:
    """What the story did, for the closing summary."""

    first_key: str = ""
    rotated_key: str = ""
    revoked: int = 0
    audit_events: int = 0


class DemoStory:
    """Plays the story on `world`; `emit` prints one transcript line."""

    def __init__(self, world: KukeyWorld, emit: Callable[[str], None]) -> None:
        self.w, self.emit = world, emit
        self.redact = Redactor(known=lambda: list(world.seeds.values()))
        self.screen = Screen(world.fake, self.redact)
        self.names = self.screen.names()
        self.outcome = Outcome()
        self._prompts_shown: set[str] = set()

    # the story -----------------------------------------------------------------------------------
    def play(self) -> Outcome:
        self.enroll()
        post = self.request()
        self.approve(post, APPROVER)
        with self.step(4, "alice reveals the key with HER OWN code, stores it, and wipes it"):
            self.outcome.first_key = self.reveal_and_wipe()
            self.kucoin(f"{SUB} has key {self.outcome.first_key}", [self.outcome.first_key])
        self.rotate(self.outcome.first_key)
        self.update(self.outcome.rotated_key)
        self.incident_revoke()
        self.audit_verify()
        return self.outcome

    def enroll(self) -> None:
        with self.step(1, "bob enrolls his authenticator app (alice, carol and dave do the same, off screen)"):
            self.slash(APPROVER, TRADING, "enroll")
            raw = self.w.wait(lambda: seed_in(" ".join(e.content for e in self.w.fake.ephemerals(APPROVER))),
                              what="the enrollment message")
            self.w.seeds[APPROVER] = raw
            self.show()
            self.click(APPROVER, "Confirm code")
            self.enter_code(APPROVER)
            self.private(APPROVER, "enrollment confirmed")
            self.show()
            for user in (REQUESTER, APPROVER2, RESPONDER):
                self.w.enroll(user)
            self.screen.catch_up()

    def request(self) -> Any:
        with self.step(2, "alice asks for a Spot key on alpha-trading, with an IP whitelist and an expiry"):
            post = self.slash(REQUESTER, TRADING, CREATE, wait_post=True)
            self.show()
            return post

    def approve(self, post: Any, approver: str) -> None:
        who = self.names[approver]
        with self.step(3, f"{who} approves with a TOTP code"):
            self.click(approver, "Approve", channel=APPROVALS, ts=post.ts, where="under the request")
            self.enter_code(approver)
            self.private(REQUESTER, f"Your request `{_request_id(post)}` was approved")
            self.w.wait(lambda: _buttons(self.w, post.ts) == [], what="the request's buttons are gone")
            self.in_thread(post, "approved. Waiting for")
            self.show()

    def reveal_and_wipe(self) -> str:
        """alice reveals with her own code, reads the key once and wipes it; returns the API key."""
        self.click(REQUESTER, "Reveal key")
        self.enter_code(REQUESTER)
        shown = self.private(REQUESTER, "Secret")
        match = _API_KEY.search(shown.content)
        if match is None:
            raise StepFailed("the secret message shows no API key")
        api_key = match.group(1)
        self.in_any_thread(f"Key `{api_key}` was created")
        self.show()
        self.click(REQUESTER, "Stored it - wipe")
        self.w.wait(lambda: not any("Secret" in e.content for e in self.w.fake.ephemerals(REQUESTER)),
                    what="the secret is wiped")
        self.show()
        return api_key

    def rotate(self, old: str) -> None:
        with self.step(5, "alice opens kukey's Home tab and rotates the key there, then tries to approve her own "
                          "request"):
            self.home(REQUESTER, f"`{old}` in *{SUB}*")
            before = len(self.w.fake.messages(APPROVALS))
            self.click(REQUESTER, "Rotate", home=True, block_id=f"key:{old}", where="beside the key, and confirms")
            post = self.w.wait(lambda: self.w.fake.messages(APPROVALS)[before]
                               if len(self.w.fake.messages(APPROVALS)) > before else None, what="the rotate request")
            self.private(REQUESTER, f"Request `{_request_id(post)}` was posted for approval")
            self.show()
            self.click(REQUESTER, "Approve", channel=APPROVALS, ts=post.ts, where="under her own request")
            self.private(REQUESTER, "cannot approve your own request")
            if self.w.fake.modal(REQUESTER) is not None:
                raise StepFailed("alice was offered a code prompt for her own request")
            self.show()
        with self.step(6, "carol approves the rotation; alice reveals the new key; kukey deletes the old one"):
            self.click(APPROVER2, "Approve", channel=APPROVALS, ts=post.ts, where="under the request")
            self.enter_code(APPROVER2)
            self.private(REQUESTER, f"Your request `{_request_id(post)}` was approved")
            self.in_thread(post, "approved. Waiting for")
            self.show()
            new = self.reveal_and_wipe()
            self.in_any_thread(f"Old key `{old}` was deleted at KuCoin")
            self.show()
            self.kucoin(f"{SUB} has only the new key {new}; the old key {old} is gone", [new])
            self.outcome.rotated_key = new

    def update(self, api_key: str) -> None:
        with self.step(7, "alice adds a backup host to the new key's IP whitelist; bob approves; its secret stays"):
            post = self.slash(REQUESTER, TRADING, f"update {SUB} {api_key} ips={IPS_AFTER} backup host", wait_post=True)
            self.show()
            self.click(APPROVER, "Approve", channel=APPROVALS, ts=post.ts, where="under the request")
            self.enter_code(APPROVER)
            self.in_thread(post, f"Key `{api_key}` was updated at KuCoin")
            self.private(REQUESTER, f"Your request `{_request_id(post)}` is done")
            self.show()
            ips = [k["ips"] for k in self.w.sandbox.keys(SUB) if k["api_key"] == api_key]
            if ips != [IPS_AFTER.split(",")]:
                raise StepFailed(f"KuCoin holds the IP whitelist {ips} for {api_key}, expected {IPS_AFTER}")
            self.kucoin(f"{SUB} key {api_key} now allows {IPS_AFTER}", [api_key])

    def incident_revoke(self) -> None:
        with self.step(8, "dave, the incident responder, revokes every key of alpha-trading from #incident"):
            self.slash(RESPONDER, INCIDENT, f"revoke {SUB} all suspected leak")
            self.enter_code(RESPONDER)
            self.w.wait(lambda: self.w.sandbox.keys(SUB) == [], what="every key revoked at KuCoin")
            for channel in (INCIDENT, APPROVALS):
                self.w.wait(_announced(self.w, channel, "Incident revoke"), what=f"the revoke announced in {channel}")
            self.show()
            self.kucoin(f"{SUB} has no key left", [])
            self.outcome.revoked = 1

    def audit_verify(self) -> None:
        with self.step(9, "anyone with the master key checks the tamper-evident audit log"):
            self.emit("  > kukey audit verify")
            process = self.w.spawn("audit", "verify")
            try:
                output, _ = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                raise StepFailed("`kukey audit verify` did not finish within 60 s") from None
            for line in output.splitlines():
                self.emit("    " + self.redact(line))
            found = _VERIFIED.search(output)
            if process.returncode != 0 or found is None:
                raise StepFailed(f"`kukey audit verify` exited {process.returncode}")
            self.outcome.audit_events = int(found.group(1))

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
        self.private(user, f"Request `{_request_id(post)}` was posted for approval")
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

    def enter_code(self, user: str) -> None:
        """Wait for the user's code prompt, print it, type their current TOTP code and submit."""
        view = self.w.wait(lambda: self.w.fake.modal(user), what=f"a code prompt for {self.names[user]}")
        submit = (view.spec.get("submit") or {}).get("text", "Submit")
        typed = f"{self.names[user]} types the code from the app ({CODE_MASK}) and clicks [{submit}]"
        if view.title in self._prompts_shown:  # the same prompt as before: one line
            lines = [typed]
        else:
            lines = [line for line in block_lines(view.blocks) if not line.endswith("[______]")] + [typed]
            self._prompts_shown.add(view.title)
        for line in entry(f'[{self.names[user]}, modal "{view.title}"]', lines):
            self.emit(self.redact(line, owner=self.names[user]))
        result = self.w.driver.submit(user, {"code": self.w.code(user)})
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

    def kucoin(self, claim: str, expected: list[str]) -> None:
        """Check the KuCoin sandbox itself and say what it holds."""
        keys = sorted(k["api_key"] for k in self.w.sandbox.keys(SUB))
        if keys != sorted(expected):
            raise StepFailed(f"KuCoin holds {keys} for {SUB}, expected {sorted(expected)}")
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


def _request_id(post: Any) -> str:
    found = _REQUEST_ID.search(post.content)
    if found is None:
        raise StepFailed("the request post names no request id")
    return found.group(1)


def _buttons(world: KukeyWorld, ts: str) -> list[str] | None:
    message = world.fake.message(APPROVALS, ts)
    return None if message is None else message.button_labels


def _announced(world: KukeyWorld, channel: str, needle: str) -> Callable[[], bool]:
    return lambda: any(needle in m.content for m in world.fake.messages(channel))
