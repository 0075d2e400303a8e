"""What the checks share: the configuration `kukey run` reads, in slices, and the answers several checks use.

Every check sees the same configuration as `kukey run`: the process environment, `NAME_FILE` variants and
the `.env` file (bot.environment), loaded once. A check builds Settings from only the variables it is
about (its slice), so each configuration problem is reported once, by the check it concerns, and one
missing variable does not hide what every other check would find.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

import httpx

from bot import config
from bot.config import SECRET_VARIABLES, Settings
from bot.domain.clock import Clock
from bot.domain.policy import Policy
from bot.environment import Environment
from bot.errors import ConfigError, KukeyError
from bot.kucoin.client import KucoinClient
from bot.kucoin.ratelimit import RetryPolicy
from bot.policy_file import load_policy
from bot.preflight.slack_web import SlackAnswer, SlackWebApi
from bot.tls import http_client

T = TypeVar("T")

SLACK_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# The preflight reports an outage; it does not wait one out like the running bot does.
KUCOIN_RETRIES = RetryPolicy(max_attempts=2, max_total_wait=2.0, timeout=10.0)


class Configuration:
    """The environment, NAME_FILE files and .env as `kukey run` reads them, handed out in slices."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._source = Environment.load(env)
        self.load_problems = list(self._source.problems)  # e.g. KUKEY_ENV_FILE naming a missing file

    def settings(self, names: Iterable[str], *, need: Iterable[str] = ()) -> Settings:
        """Settings from only `names` (everything else at its default); ConfigError names each problem."""
        values: dict[str, str] = {}
        problems: list[str] = []
        for name in names:
            before = len(self._source.problems)
            if name not in SECRET_VARIABLES:
                value = self._source.get(name)
            else:
                value = self._source.secret(name)
                if name in self._source.from_file:  # hand on the file, so problems name NAME_FILE
                    name, value = f"{name}_FILE", self._source.get(f"{name}_FILE")
            problems += self._source.problems[before:]
            if value:
                values[name] = value
        if problems:
            raise ConfigError("\n".join(dict.fromkeys(problems)), variable=problems[0].split(" ", 1)[0])
        return Settings.from_env(values, need=need)

    def reported_elsewhere(self, names: Iterable[str]) -> Settings | None:
        """Settings from variables another check owns and reports: None when they have a problem."""
        try:
            return self.settings(names)
        except ConfigError:
            return None


class Once(Generic[T]):
    """A value computed on first use and kept, or the KukeyError computing it raised (raised again)."""

    def __init__(self, compute: Callable[[], T]) -> None:
        self._compute = compute
        self._value: T | None = None
        self.error: KukeyError | None = None
        self.done = False

    def __call__(self) -> T:
        if not self.done:
            try:
                self._value = self._compute()
            except KukeyError as exc:
                self.error = exc
            self.done = True
        if self.error is not None:
            raise self.error
        assert self._value is not None
        return self._value

    def get(self) -> T | None:
        """The value, or None when computing it failed (the check that owns it reports why)."""
        try:
            return self()
        except KukeyError:
            return None


class Context:
    """One preflight's shared state: the configuration, a Slack and a KuCoin client, and cached answers."""

    def __init__(self, config: Configuration, *, http_mode: bool, clock: Clock) -> None:
        self.config = config
        self.http_mode = http_mode
        self.clock = clock
        self._http = http_client(timeout=SLACK_TIMEOUT)
        self._closers: list[Callable[[], None]] = [self._http.close]
        self.policy: Once[Policy] = Once(self._load_policy)
        self.bot_answer: Once[SlackAnswer] = Once(self._auth_test)
        self.unreachable: set[str] = set()  # "slack", "kucoin": the check that found it reported it

    def close(self) -> None:
        for close in reversed(self._closers):
            close()

    def slack(self, settings: Settings) -> SlackWebApi:
        return SlackWebApi(settings.slack_api_url, http=self._http, clock=self.clock)

    def kucoin(self, settings: Settings) -> KucoinClient:
        """A KuCoin client that gives up after one short retry (closed with the context)."""
        client = KucoinClient(base_url=settings.kucoin_api_url, api_key=settings.kucoin_api_key,
                              api_secret=settings.kucoin_api_secret, api_passphrase=settings.kucoin_api_passphrase,
                              clock=self.clock, policy=KUCOIN_RETRIES)
        self._closers.append(client.close)
        return client

    def _load_policy(self) -> Policy:
        settings = self.config.settings(("KUKEY_POLICY",), need=[config.POLICY])
        assert settings.policy_path is not None
        return load_policy(settings.policy_path)

    def _auth_test(self) -> SlackAnswer:
        settings = self.config.settings(("SLACK_API_URL", "SLACK_BOT_TOKEN"), need=[config.SLACK_API])
        return self.slack(settings).api_call("auth.test", settings.slack_bot_token.reveal())

    def bot_token(self) -> str:
        """The bot token, once auth.test accepted it (the checks that need it run after that one)."""
        return self.config.settings(("SLACK_BOT_TOKEN",)).slack_bot_token.reveal()
