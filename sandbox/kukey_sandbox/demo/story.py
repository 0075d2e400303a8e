"""The story `kukey demo` plays on a KukeyWorld, printing what each person sees in Slack.

Every step acts the way a person does (kukey_sandbox.demo.acting: signed slash commands, button clicks and
modal submissions through the Slack driver, real TOTP codes), waits for the bot's answer to arrive in the
Slack fake, then prints whatever changed there. Codes, secrets, passphrases and seeds are masked by the
Redactor. Time passes as for a person: each new TOTP code moves the demo's clock (a RunningClock) to the
next 30-second step, and the reminder step moves it 5 minutes ahead; kukey's own scheduler does the rest.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kukey_sandbox.demo.acting import SUB, Acting, StepFailed, request_id
from kukey_sandbox.demo.render import seed_in
from kukey_sandbox.world import (
    APPROVALS,
    APPROVER,
    APPROVER2,
    INCIDENT,
    REQUESTER,
    RESPONDER,
    TRADING,
    KukeyWorld,
    default_policy,
)

__all__ = ["SUB", "DemoStory", "Outcome", "StepFailed", "demo_policy"]

SUB2 = "delta-research"
SUBS = (SUB, SUB2)
CREATE = f"create {SUB} perms=Spot ips=203.0.113.5 expire=30 market-making bot"
CREATE2 = f"create {SUB2} perms=Spot ips=203.0.113.7 expire=30 research bot"
IPS_AFTER = "203.0.113.5,203.0.113.6"
REMIND_AFTER_MINUTES = 5
_API_KEY = re.compile(r"API key:\*? `([0-9a-f]{24})`")
_VERIFIED = re.compile(r"OK: (\d+) events verified")
_RESOLVED = "needs nothing more from you"  # an approver's DM once its request is resolved


def demo_policy() -> str:
    """The sandbox's policy, with a rule for delta-* sub-accounts whose one approver (carol) is told by DM
    too and reminded: the rule for every other sub-account tells the approvals channel only."""
    delta = (f'[[rules]]\nmatch = "delta-*"\nallowed_permissions = ["General", "Spot"]\n'
             f'approver_group = ["{APPROVER2}"]\nnotify = "both"\nremind_after_minutes = {REMIND_AFTER_MINUTES}\n\n')
    return default_policy().replace("[[rules]]\n", delta + "[[rules]]\n", 1)


@dataclass
class Outcome:
    """What the story did, for the closing summary."""

    first_key: str = ""
    rotated_key: str = ""
    revoked: int = 0
    audit_events: int = 0


class DemoStory(Acting):
    """Plays the story on `world`; `emit` prints one transcript line."""

    def __init__(self, world: KukeyWorld, emit: Callable[[str], None]) -> None:
        super().__init__(world, emit)
        self.outcome = Outcome()

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
        self.approve_from_a_dm()
        self.kill_switch()
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
            self.private(REQUESTER, f"Your request `{request_id(post)}` was approved")
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
            self.private(REQUESTER, f"Request `{request_id(post)}` was posted for approval")
            self.show()
            self.click(REQUESTER, "Approve", channel=APPROVALS, ts=post.ts, where="under her own request")
            self.private(REQUESTER, "cannot approve your own request")
            if self.w.fake.modal(REQUESTER) is not None:
                raise StepFailed("alice was offered a code prompt for her own request")
            self.show()
        with self.step(6, "carol approves the rotation; alice reveals the new key; kukey deletes the old one"):
            self.click(APPROVER2, "Approve", channel=APPROVALS, ts=post.ts, where="under the request")
            self.enter_code(APPROVER2)
            self.private(REQUESTER, f"Your request `{request_id(post)}` was approved")
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
            self.private(REQUESTER, f"Your request `{request_id(post)}` is done")
            self.show()
            ips = [k["ips"] for k in self.w.sandbox.keys(SUB) if k["api_key"] == api_key]
            if ips != [IPS_AFTER.split(",")]:
                raise StepFailed(f"KuCoin holds the IP whitelist {ips} for {api_key}, expected {IPS_AFTER}")
            self.kucoin(f"{SUB} key {api_key} now allows {IPS_AFTER}", [api_key])

    def approve_from_a_dm(self) -> None:
        with self.step(8, f'alice asks for a key on {SUB2}, whose rule DMs its approver carol (notify = "both") '
                          "and reminds her"):
            post = self.slash(REQUESTER, TRADING, CREATE2, wait_post=True)
            dm = self.private(APPROVER2, "asks for your approval")
            self.show()
            self.emit("  … 5 minutes pass (the demo's clock jumps ahead, as for each new TOTP code; kukey's "
                      "scheduler sends the reminder)")
            self.w.advance(REMIND_AFTER_MINUTES * 60)
            self.private(APPROVER2, "Reminder 1:")
            self.in_thread(post, "Reminder:")
            self.show()
            self.click(APPROVER2, "Approve", channel=dm.channel, ts=dm.ts, where="in her DM")
            self.enter_code(APPROVER2)
            self.private(REQUESTER, f"Your request `{request_id(post)}` was approved")
            self.w.wait(lambda: all(_RESOLVED in m.content for m in self.w.fake.messages(self.w.fake.dm(APPROVER2))
                                    if request_id(post) in m.content), what="carol's DMs edited")
            self.show()
            key = self.reveal_and_wipe()
            self.kucoin(f"{SUB2} has key {key}", [key], sub=SUB2)

    def kill_switch(self) -> None:
        with self.step(9, "dave, the incident responder, pulls the kill switch in #incident: every key kukey "
                          "holds, in every sub-account"):
            held = [k["api_key"] for sub in SUBS for k in self.w.sandbox.keys(sub)]
            self.slash(RESPONDER, INCIDENT, "revoke everything master credentials leaked")
            self.enter_code(RESPONDER, also=(str(len(held)), f"{len(held)} (the number of keys)"))
            post = self.w.wait(lambda: next((m for m in self.w.fake.messages(INCIDENT)
                                             if "Kill switch* done" in m.content), None), what="the kill switch done")
            self.w.wait(lambda: any("Out of kukey's reach" in m.content
                                    for m in self.w.fake.thread(INCIDENT, post.ts)), what="its report")
            self.w.wait(_announced(self.w, APPROVALS, "Kill switch"), what="the kill switch announced")
            self.show()
            for sub in SUBS:
                self.kucoin(f"{sub} has no key left", [], sub=sub)
            self.outcome.revoked += len(held)

    def audit_verify(self) -> None:
        with self.step(10, "anyone with the master key checks the tamper-evident audit log"):
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



def _buttons(world: KukeyWorld, ts: str) -> list[str] | None:
    message = world.fake.message(APPROVALS, ts)
    return None if message is None else message.button_labels


def _announced(world: KukeyWorld, channel: str, needle: str) -> Callable[[], bool]:
    return lambda: any(needle in m.content for m in world.fake.messages(channel))
