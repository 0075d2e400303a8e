"""`KukeyWorld`: start the KuCoin sandbox and the Slack fake, write a policy, run the real bot against
them over real HTTP (or Socket Mode), and drive it with signed requests like Slack."""

from __future__ import annotations

import base64
import functools
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp

from bot.config import Settings
from bot.domain.clock import Clock, FakeClock
from kukey_sandbox.tls import local_certificate

# The cast of every story: Slack user ids (immutable), names, and roles.
REQUESTER, APPROVER, APPROVER2, RESPONDER, OUTSIDER, ADMIN = (
    "U0ALICE01", "U0BOB0001", "U0CAROL01", "U0DAVE001", "U0EVE0001", "U0FRANK01")
NAMES = {REQUESTER: "alice", APPROVER: "bob", APPROVER2: "carol", RESPONDER: "dave", OUTSIDER: "eve",
         ADMIN: "frank"}
APPROVALS, INCIDENT, AUDIT, TRADING = "C0APPROVALS", "C0INCIDENT", "C0AUDITLOG", "C0TRADING"
APPROVER_GROUP = "S0APPROVERS"
STEP_S = 30  # a TOTP step
PREVIOUS_STEP_SPARE_S = 10  # the least time left in a step to hand out the previous step's code


def default_policy(**rule: Any) -> str:
    extra = "\n".join(f"{k} = {_toml(v)}" for k, v in rule.items())
    return textwrap.dedent(f"""\
        approvals_channel = "{APPROVALS}"
        incident_channels = ["{INCIDENT}"]
        audit_channel = "{AUDIT}"

        [groups]
        approvers = ["{APPROVER_GROUP}"]
        responders = ["{RESPONDER}"]
        admins = ["{ADMIN}"]

        [[rules]]
        match = "*"
        allowed_permissions = ["General", "Spot", "Futures", "Margin"]
        max_expire_days = "never"
        """) + extra + "\n"


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return str(v)


@dataclass
class KukeyWorld:
    """Everything a story needs. Use as a context manager; `stop()` tears it all down."""

    home: Path
    policy_text: str = field(default_factory=default_policy)
    socket: bool = False
    clock: Clock = field(default_factory=lambda: FakeClock(datetime.now(UTC)))
    scheduler_interval: float = 0.05
    sandbox_kwargs: dict[str, Any] = field(default_factory=dict)
    run_bot: bool = True  # False: the test starts the bot itself (e.g. `kukey run` in a subprocess)
    env_extra: dict[str, str] = field(default_factory=dict)  # more settings for the bot
    database_url: str = ""  # KUKEY_DATABASE_URL; default: the SQLite file db_path, home/kukey.db
    # Slack's side (and KuCoin's) over HTTPS, as the real ones (kukey_sandbox.tls): the bot trusts the run's CA
    # through SSL_CERT_FILE, in env() for processes and in this process's environment while an in-process bot runs
    slack_tls: bool = False
    kucoin_tls: bool = False

    def __post_init__(self) -> None:
        from kukey_sandbox.kucoin.sandbox import KucoinSandbox
        from kukey_sandbox.slack.fake import SlackFake

        self.master_key = base64.b64encode(os.urandom(32)).decode()
        # KuCoin's clock follows the bot's (a FakeClock jumps; real clocks don't), like two NTP-synced hosts
        self.certificate = local_certificate(self.home / "tls") if self.slack_tls or self.kucoin_tls else None
        self.sandbox = KucoinSandbox(**{"clock": self.clock, "tls": self.certificate if self.kucoin_tls else None,
                                        **self.sandbox_kwargs}).start()
        self.fake = SlackFake(tls=self.certificate if self.slack_tls else None).start()
        self._trusting = False  # this process's SSL_CERT_FILE names the run's trust store (an in-process bot)
        self._cert_file_before: str | None = None  # what it named before
        for uid, name in NAMES.items():
            self.fake.add_user(uid, name)
        everyone = list(NAMES)
        bot = self.fake.bot_user_id  # invited into the policy's channels, as the README's set-up says
        self.fake.add_channel(APPROVALS, "kukey-approvals", members=[*everyone, bot])
        self.fake.add_channel(INCIDENT, "incident", members=[*everyone, bot])
        self.fake.add_channel(AUDIT, "kukey-audit", members=[ADMIN, bot])
        self.fake.add_channel(TRADING, "trading", members=everyone)
        self.fake.add_usergroup(APPROVER_GROUP, "approvers", users=[APPROVER, APPROVER2])
        self.policy_path = self.home / "policy.toml"
        self.policy_path.write_text(self.policy_text)
        self.db_path = self.home / "kukey.db"  # the database when database_url is not given
        self.database_url = self.database_url or f"sqlite:///{self.db_path}"
        self.seeds: dict[str, str] = {}
        self.codes: list[str] = []  # every TOTP code a person typed, for leak scans
        self._steps: dict[str, set[int]] = {}
        self.process: Any = None  # start_process(): one `kukey run` (a kukey_sandbox.replicas.Replica)
        self.replicas: list[Any] = []  # start_replicas()
        self.bot: Any = None
        self.driver: Any = None
        if self.run_bot:
            self.start_bot()

    # --- the bot ----------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        creds = self.sandbox.master_credentials
        env = {
            "KUCOIN_API_URL": self.sandbox.url, "KUCOIN_API_KEY": creds.api_key,
            "KUCOIN_API_SECRET": creds.api_secret.reveal(), "KUCOIN_API_PASSPHRASE": creds.api_passphrase.reveal(),
            "SLACK_API_URL": self.fake.api_url, "SLACK_BOT_TOKEN": self.fake.bot_token,
            "SLACK_SIGNING_SECRET": self.fake.signing_secret, "SLACK_APP_TOKEN": self.fake.app_token,
            "KUKEY_DATABASE_URL": self.database_url, "KUKEY_POLICY": str(self.policy_path),
            "KUKEY_MASTER_KEY": self.master_key,
            **({"SSL_CERT_FILE": str(self.certificate.bundle_file)} if self.certificate else {}),
            **self.env_extra,
        }
        return env

    def start_bot(self) -> None:
        from bot.app import build
        from kukey_sandbox.slack.driver import SlackDriver

        settings = Settings.from_env(self.env(), need=["kucoin", "master_key", "policy", "slack_http"])
        self._trust_ca_in_process()
        self.bot = build(settings, clock=self.clock, scheduler_interval=self.scheduler_interval)
        if self.socket:
            self.bot.start_socket()
            self.driver = SlackDriver(self.fake, socket=True)
        else:
            transport = self.bot.start_http()
            self.driver = SlackDriver(self.fake, url=transport.url)

    def spawn(self, *args: str, extra_env: dict[str, str] | None = None) -> Any:
        """Start `kukey <args>` as a real process against this world; returns the Popen (text mode)."""
        import subprocess
        import sys

        env = {**os.environ, **self.env(), **(extra_env or {})}
        return subprocess.Popen([sys.executable, "-m", "bot", *args], env=env, stdout=subprocess.PIPE,  # noqa: S603
                                stderr=subprocess.STDOUT, text=True)

    def start_process(self, **extra_env: str) -> None:
        """Run the bot as `kukey run --http` in its own process (real clock) and point the driver at it.
        Its lease is 3 s (not the default 10 s), so that a restart takes a crashed run's work over soon."""
        from kukey_sandbox import replicas
        from kukey_sandbox.slack.driver import SlackDriver

        (self.process,) = replicas.start(self.spawn, 1, extra_env={"KUKEY_LEASE_SECONDS": "3", **extra_env})
        self.driver = SlackDriver(self.fake, url=self.process.url)

    def kill_process(self) -> None:
        """kill -9: no shutdown code runs, exactly like a crash."""
        if self.process is not None:
            self.process.kill()
            self.process = None

    def start_replicas(self, count: int, *, http: bool = True, **extra_env: str) -> list[Any]:
        """Start `count` more `kukey run` processes on this world's database at once (real clock, default
        settings unless `extra_env` says otherwise). HTTP mode: the driver becomes a round-robin load
        balancer over every live replica; Socket Mode: each replica holds its own connections to the fake,
        which hands each envelope to one of them. Returns the new replicas (kukey_sandbox.replicas)."""
        from kukey_sandbox import replicas
        from kukey_sandbox.slack.driver import SlackDriver

        started = replicas.start(self.spawn, count, http=http, extra_env=extra_env, first=len(self.replicas))
        self.replicas.extend(started)
        if http:
            self.driver = replicas.RoundRobin(self.fake, lambda: [r for r in self.replicas if r.alive()])
        else:
            self.driver = SlackDriver(self.fake, socket=True)
        return started

    def replica_calling(self, method: str, path: str) -> Any:
        """The live replica that sent the KuCoin sandbox its last `method path` request (found by the
        request's TCP port): the one doing that work, whichever replica answered the Slack request behind
        it (a job may run on any replica)."""
        from urllib.parse import urlsplit

        from kukey_sandbox import replicas

        call = next(r for r in reversed(list(self.sandbox.requests)) if r.method == method and r.path == path)
        return replicas.holding(self.replicas, call.client_port, urlsplit(self.sandbox.url).port or 0)

    def stop_bot(self) -> None:
        if self.bot is not None:
            self.bot.stop()
            self.bot = None
        self._untrust_ca_in_process()

    def _trust_ca_in_process(self) -> None:
        """An in-process bot reads its CAs from this process's environment (bot.tls, once per process): point
        SSL_CERT_FILE at the run's trust store and let the bot make its TLS context anew."""
        from bot.tls import shared_context

        if self.certificate is None or self._trusting:
            return
        self._trusting, self._cert_file_before = True, os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = str(self.certificate.bundle_file)
        shared_context.cache_clear()

    def _untrust_ca_in_process(self) -> None:
        """SSL_CERT_FILE as it was before the in-process bot, and the next TLS context made from it."""
        from bot.tls import shared_context

        if not self._trusting:
            return
        self._trusting = False
        if self._cert_file_before is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = self._cert_file_before
        shared_context.cache_clear()

    def stop(self) -> None:
        self.stop_bot()
        self.kill_process()
        for replica in self.replicas:
            replica.kill()
        self.fake.stop()
        self.sandbox.stop()

    def __enter__(self) -> KukeyWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- people -----------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, seconds: float) -> None:
        """Move the bot's clock (a FakeClock) forward; the scheduler sees it on its next tick."""
        assert isinstance(self.clock, FakeClock), "advance() needs a FakeClock"
        self.clock.advance(timedelta(seconds=seconds))

    def code(self, user: str, *, offset_steps: int = 0, fresh: bool = True) -> str:
        """The user's TOTP code at the bot's time. `fresh` first moves the clock to the next 30 s step,
        as a person waits for a new code, since a code is never accepted twice. On a real clock (a bot
        in another process) `fresh` picks a step within the accepted drift that this user has not used
        yet (now, then +1, then -1 while 10 s of the step are left), waiting for the next step only when none
        is left."""
        totp = pyotp.TOTP(self.seeds[user])
        now = self.clock.now().timestamp()
        if fresh and isinstance(self.clock, FakeClock):
            self.advance(30)
            now = self.clock.now().timestamp()
        elif fresh:
            used = self._steps.setdefault(user, set())
            while True:
                step = int(now // STEP_S)
                # The step before is accepted only until this step ends: take it only with time left for the
                # bot to check it on a loaded machine (else the code expires on the way: "not valid").
                spare = STEP_S - now % STEP_S >= PREVIOUS_STEP_SPARE_S
                choice = next((c for c in (step, step + 1, step - 1) if c not in used and (c >= step or spare)),
                              None)
                if choice is not None:
                    break
                self.wait(functools.partial(self._past_step, step), timeout=STEP_S + 1,
                          what=f"the next TOTP step for {user}")
                now = self.clock.now().timestamp()
            used.add(choice)
            offset_steps = choice - step
        code = totp.at(now + 30 * offset_steps)
        self.codes.append(code)
        return code

    def _past_step(self, step: int) -> bool:
        return self.clock.now().timestamp() // STEP_S > step

    def enroll(self, user: str, channel: str = TRADING) -> None:
        """`/kukey enroll`, read the seed from the private message, confirm a real code."""
        self.driver.slash(user, channel, "enroll")
        seed = _seed_from(" ".join(e.content for e in self.fake.ephemerals(user)))
        assert seed, f"no seed shown to {user}"
        self.seeds[user] = seed
        self.driver.click(user, "Confirm code")
        result = self.submit(user, {"code": self.code(user)})
        assert not result.errors, result

    def open_home(self, user: str) -> Any:
        """`user` opens kukey's Home tab; wait for a Home published after that, and return it (a View)."""
        seen = self.fake.home(user)
        before = seen.publications if seen is not None else 0
        ack = self.driver.open_home(user)
        assert ack.ok, ack
        return self.wait(lambda: (home := self.fake.home(user)) is not None and home.publications > before
                         and home, what=f"the Home tab of {user}")

    def home_shows(self, user: str, needle: str) -> Any:
        """Wait until `user`'s Home tab shows `needle` (kukey refreshes it after changes); return it."""
        return self.wait(lambda: (home := self.fake.home(user)) is not None and needle in home.content and home,
                         what=f"the Home tab of {user} shows {needle!r}")

    def submit(self, user: str, values: dict[str, Any], *, callback_id: str | None = None) -> Any:
        """Wait for the user's modal to open (the bot opens it right after its ack), then submit it."""
        self.wait(lambda: (m := self.fake.modal(user)) is not None
                  and (callback_id is None or m.spec.get("callback_id") == callback_id),
                  what=f"modal for {user}")
        return self.driver.submit(user, values)

    def wait(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        return self.fake.wait_for(predicate, timeout=timeout, what=what)


def _all_text(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        return " ".join(_all_text(v) for v in node.values())
    if isinstance(node, list):
        return " ".join(_all_text(v) for v in node)
    return ""


def _seed_from(text: str) -> str | None:
    import re

    m = re.search(r"Seed \(base32\):\*? `([A-Z2-7]{16,})`", text)
    return m.group(1) if m else None


class Story:
    """Short verbs for the steps people take, on top of a KukeyWorld."""

    def __init__(self, world: KukeyWorld) -> None:
        self.w = world

    def request(self, text: str, user: str = REQUESTER, channel: str = TRADING) -> Any:
        """Type a /kukey create|rotate|revoke and wait for it to appear in the approvals channel: the first new
        post there with an Approve button (a job's announcement may land there meanwhile)."""
        before = len(self.w.fake.messages(APPROVALS))
        ack = self.w.driver.slash(user, channel, text)
        assert ack.ok, ack
        return self.w.wait(lambda: next((m for m in self.w.fake.messages(APPROVALS)[before:]
                                         if "Approve" in m.button_labels), None), what="request posted")

    def approve(self, post: Any, user: str, code: str | None = None) -> Any:
        self.w.driver.click(user, "Approve", channel=APPROVALS, ts=post.ts)
        return self.w.submit(user, {"code": code or self.w.code(user)})

    def private(self, user: str, needle: str) -> Any:
        """Wait for a private (ephemeral or DM) message to `user` that contains `needle`."""
        def find() -> Any:
            for e in self.w.fake.ephemerals(user):
                if needle in e.content:
                    return e
            dm = self.w.fake.dm(user)
            return next((m for m in self.w.fake.messages(dm) if needle in m.content), None)
        return self.w.wait(find, what=f"{user} is told {needle!r}")

    def in_thread(self, post: Any, needle: str) -> Any:
        return self.w.wait(lambda: next((m for m in self.w.fake.thread(APPROVALS, post.ts) if needle in m.content),
                                        None), what=f"thread says {needle!r}")

    def reveal(self, user: str = REQUESTER) -> str:
        """Click Reveal key, give the TOTP code, return the apiKey shown in the secret message."""
        import re

        self.private(user, "Reveal key")
        before = {e.ts for e in self.w.fake.ephemerals(user) if "Secret" in e.content}
        self.w.driver.click(user, "Reveal key")
        result = self.w.submit(user, {"code": self.w.code(user)})
        assert not result.errors, result.errors
        shown = self.w.wait(lambda: next((e for e in reversed(self.w.fake.ephemerals(user))
                                          if "Secret" in e.content and e.ts not in before), None),
                            what="the secret is shown")
        match = re.search(r"API key:\*? `([0-9a-f]{24})`", shown.content)
        assert match, shown.content
        api_key = match.group(1)
        self.w.wait(lambda: any(f"Key `{api_key}` was created" in m.content
                                for p in self.w.fake.messages(APPROVALS)
                                for m in self.w.fake.thread(APPROVALS, p.ts)), what="reveal recorded")
        return api_key

    def create_key(self, text: str = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 bot",
                   approver: str = APPROVER) -> str:
        post = self.request(text)
        assert not self.approve(post, approver).errors
        return self.reveal()
