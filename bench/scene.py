"""A scene: the KuCoin sandbox and the Slack fake (kukey_sandbox.world.KukeyWorld, in this process) and
kukey itself as `kukey run --http` in its own process, with the real clock, plus extra people."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine, create_engine, text

from bench import procs
from bot.domain.clock import Clock, SystemClock
from bot.storage import urls
from kukey_sandbox.kucoin.state import default_seed
from kukey_sandbox.slack import payloads
from kukey_sandbox.slack.driver import SlackDriver
from kukey_sandbox.world import (
    APPROVALS,
    APPROVER_GROUP,
    INCIDENT,
    TRADING,
    KukeyWorld,
    default_policy,
)

SUB_ACCOUNTS = ("alpha-trading", "delta-research", "beta-spot")  # open for Spot; gamma-frozen is frozen
SLACK_TLS: list[bool] = [False]  # every scene's Slack fake on HTTPS (bench --slack-tls)
KUCOIN_TLS: list[bool] = [False]  # every scene's KuCoin sandbox on HTTPS (bench --kucoin-tls)


class Scene:
    """Use as a context manager; `start_bot()` runs kukey against the world."""

    def __init__(self, home: Path, *, keys_per_sub: int = 5, management_budget: int = 2000,
                 sandbox_clock: Clock | None = None, database_url: str = "", window_seconds: float = 30.0,
                 more_sub_accounts: Sequence[str] = ()) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        seed = default_seed()
        seed.setdefault("settings", {})["max_keys_per_sub_account"] = keys_per_sub
        seed["masters"][0]["sub_accounts"] += [{"name": name, "uid": 300_000_000 + i}
                                               for i, name in enumerate(more_sub_accounts)]
        sandbox: dict[str, Any] = {"seed": seed, "management_budget": management_budget,
                                   "window_seconds": window_seconds}
        if sandbox_clock is not None:
            sandbox["clock"] = sandbox_clock
        # policy max_keys is the most a rule allows (20): lifecycles create keys in several sub-accounts
        self.world = KukeyWorld(home=home, run_bot=False, clock=SystemClock(), sandbox_kwargs=sandbox,
                                policy_text=default_policy(max_keys=20), database_url=database_url,
                                slack_tls=SLACK_TLS[0], kucoin_tls=KUCOIN_TLS[0])
        certificate = self.world.certificate if KUCOIN_TLS[0] else None
        self._trusting = _trust(certificate.bundle_file if certificate else None)
        self.bot: procs.Served | None = None
        self._answers_at_start = 0
        self._reader: Engine | None = None

    @property
    def fake(self) -> Any:
        return self.world.fake

    @property
    def sandbox(self) -> Any:
        return self.world.sandbox

    def add_people(self, count: int, prefix: str, *, approvers: bool = False) -> list[str]:
        """`count` more people in #trading, #kukey-approvals and #incident (and the approver group)."""
        users = [f"U0{prefix}{i:05d}" for i in range(count)]
        for user in users:
            self.fake.add_user(user, user.lower())
            for channel in (TRADING, APPROVALS, INCIDENT):
                self.fake.join(channel, user)
        if approvers:
            with self.fake.world.transaction() as w:
                w.usergroups[APPROVER_GROUP].users.extend(users)
        return users

    def start_bot(self) -> procs.Served:
        self._answers_at_start = sum(self.sandbox.answer_counts().values())
        self.bot = procs.spawn_kukey(self.world.env(), self.home / "kukey.log")
        self.world.driver = SlackDriver(self.fake, url=self.bot.url)
        return self.bot

    def wait_started(self, timeout: float = 30.0) -> None:
        """Until kukey's start-up KuCoin calls (server time, sub-accounts) have been answered."""
        wait_until(lambda: sum(self.sandbox.answer_counts().values()) >= self._answers_at_start + 2, timeout,
                   "kukey's start-up calls")

    def abandon_kucoin_calls(self) -> None:
        """Before killing a bot with KuCoin calls in flight: the sandbox's handlers then write to closed
        connections, and socketserver would print each BrokenPipeError. Nothing is wrong: stay quiet."""
        self.sandbox._server._httpd.handle_error = lambda request, client_address: None

    def stop_bot(self, *, kill: bool = False) -> None:
        if self.bot is not None:
            self.bot.stop(kill=kill)
            self.bot = None

    def count(self, sql: str) -> int:
        """A count from kukey's database, read without kukey's write lock (a plain read-only connection on
        SQLite; a plain engine on PostgreSQL), so that polling it never holds kukey up."""
        if self.world.database_url.startswith("sqlite") and not self.world.db_path.exists():
            return 0
        return int(self.rows(sql)[0][0])

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows from kukey's database, read the way `count` reads."""
        if self.world.database_url.startswith("sqlite"):
            with closing(sqlite3.connect(f"file:{self.world.db_path}?mode=ro", uri=True, timeout=5)) as db:
                return [tuple(row) for row in db.execute(sql).fetchall()]
        if self._reader is None:
            self._reader = create_engine(urls.normalized(self.world.database_url), pool_size=1)
        with self._reader.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]

    def close(self) -> None:
        self.stop_bot(kill=True)
        self.world.stop()
        _trust(None, before=self._trusting)
        if self._reader is not None:
            self._reader.dispose()

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def slash_bodies(self, text: str, count: int, *, user: str, channel: str = TRADING) -> list[str]:
        """Form bodies of `count` slash commands as Slack sends them (own trigger id and response_url each)."""
        fake = self.fake
        bodies = []
        with fake.world.transaction() as w:
            ch = w.channel(channel)
            for _ in range(count):
                url = w.issue_response_url(fake.base_url, user, ch.id, None)
                form = payloads.slash_command(w, user=user, channel=ch, command="/kukey", text=text,
                                              response_url=url.url, trigger_id=w.issue_trigger(user),
                                              token=fake.verification_token)
                bodies.append(urlencode(form))
        return bodies


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, *, every: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def _trust(bundle: Path | None, *, before: tuple[bool, str | None] = (False, None)) -> tuple[bool, str | None]:
    """KuCoin on HTTPS: this process's own KuCoin clients (the keys' seeding) and the processes it starts (the
    direct deletes) trust the run's CA through SSL_CERT_FILE, as kukey does (bot.tls); with `bundle` None,
    SSL_CERT_FILE as it was `before`. What to restore later."""
    from bot.tls import shared_context

    changed, previous = before
    if bundle is not None:
        changed, previous = True, os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = str(bundle)
    elif changed:
        if previous is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = previous
        changed = False
    shared_context.cache_clear()
    return changed, previous

