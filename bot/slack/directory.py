"""Resolve Slack user-group ids (S...) to members, with a short cache. Identity is always the immutable
user id, never a name or an e-mail address."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

CACHE_SECONDS = 60.0


class SlackDirectory:
    def __init__(self, client: WebClient, *, ttl: float = CACHE_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._ttl = ttl
        self._now = monotonic
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def members(self, ids: frozenset[str]) -> frozenset[str]:
        out: set[str] = set()
        for ident in ids:
            if ident.startswith("S"):
                out |= self._group(ident)
            else:
                out.add(ident)
        return frozenset(out)

    def _group(self, group: str) -> frozenset[str]:
        with self._lock:
            hit = self._cache.get(group)
            if hit and self._now() - hit[0] < self._ttl:
                return hit[1]
        try:
            users = frozenset(self._client.usergroups_users_list(usergroup=group).get("users") or [])
        except SlackApiError:
            users = frozenset()  # an unknown or disabled group grants nobody anything
        with self._lock:
            self._cache[group] = (self._now(), users)
        return users
