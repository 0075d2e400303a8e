"""A backup restored elsewhere is the same audit chain: a pg_dump of a kukey database restored with
pg_restore into a fresh database, and a SQLite online backup (what `sqlite3 kukey.db ".backup ..."` does),
pass `kukey audit verify --checkpoint N:HASH` against a checkpoint posted before the backup, as
docs/operations.md tells an operator to check; a checkpoint the log never had fails."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.clock import FakeClock
from kukey_sandbox.world import APPROVER, AUDIT, REQUESTER, KukeyWorld
from tests.postgres import SUPERUSER, PostgresServer


def _world(home: Path, database_url: str) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=home, clock=FakeClock(), database_url=database_url) as world:
        yield world


@pytest.fixture
def on_postgres(tmp_path: Path, pg_url: str) -> Iterator[KukeyWorld]:
    yield from _world(tmp_path, pg_url)


@pytest.fixture
def on_sqlite(tmp_path: Path) -> Iterator[KukeyWorld]:
    yield from _world(tmp_path, "")


def _checkpoint_then_more(world: KukeyWorld) -> str:
    """Events, a checkpoint posted to the audit channel (as every replica does each period), more events."""
    world.enroll(REQUESTER)
    checkpoint = world.bot.services.checkpoints.post()
    world.wait(lambda: any(checkpoint in m.content for m in world.fake.messages(AUDIT)), what="checkpoint posted")
    world.enroll(APPROVER)
    return str(checkpoint)


def _verify(world: KukeyWorld, database_url: str, checkpoint: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", **world.env(), "KUKEY_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "bot", "audit", "verify", "--checkpoint", checkpoint], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def _forged(checkpoint: str) -> str:
    count, digest = checkpoint.split(":")
    return f"{count}:{'0' * len(digest)}"


def test_a_pg_dump_restored_into_a_fresh_database_verifies_against_a_checkpoint(
        on_postgres: KukeyWorld, postgres: PostgresServer, tmp_path: Path) -> None:
    """pg_dump (custom format) of a running kukey's database, pg_restore into a new empty database: the
    restored chain verifies against the checkpoint posted before the dump, and not against a forged one."""
    world = on_postgres
    checkpoint = _checkpoint_then_more(world)
    dump = tmp_path / "kukey.dump"
    source = world.database_url.rsplit("/", 1)[1]
    client = ["-h", "127.0.0.1", "-p", str(postgres.port), "-U", SUPERUSER]
    subprocess.run(["pg_dump", *client, "-Fc", "-f", str(dump), source], check=True, timeout=60)
    restored = postgres.new_database()
    subprocess.run(["pg_restore", *client, "--no-owner", "--exit-on-error", "-d", restored.rsplit("/", 1)[1],
                    str(dump)], check=True, timeout=60)
    done = _verify(world, restored, checkpoint)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK")
    assert _verify(world, restored, _forged(checkpoint)).returncode == 1


def test_a_sqlite_online_backup_verifies_against_a_checkpoint(on_sqlite: KukeyWorld, tmp_path: Path) -> None:
    """SQLite's online backup of a running kukey's database verifies against the checkpoint posted before
    it, and not against a forged one."""
    world = on_sqlite
    checkpoint = _checkpoint_then_more(world)
    backup = tmp_path / "backup.db"
    with sqlite3.connect(world.db_path) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)
    live.close()
    copy.close()
    done = _verify(world, f"sqlite:///{backup}", checkpoint)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _verify(world, f"sqlite:///{backup}", _forged(checkpoint)).returncode == 1
