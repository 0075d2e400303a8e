"""A running kukey world per test: KuCoin sandbox, Slack fake, the real bot over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.testing.world import KukeyWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=tmp_path) as w:
        yield w
