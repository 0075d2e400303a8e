"""`kukey keygen` and `kukey rekey`: a new master key; every stored secret and the audit chain moved to it."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bot.cli import main
from bot.domain.clock import FakeClock
from bot.errors import AuditWriteError, CryptoError
from bot.security.crypto import SecretBox, generate_master_key, key_id
from bot.storage import audit, audit_chain, audit_read
from bot.storage.audit import AuditLog
from bot.storage.audit_verify import verify
from bot.storage.db import session_scope
from bot.storage.tables import Enrollment, KeyRecord, Request
from tests.storage.audit_helpers import db_url, fill, insert, new_engine

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PLAIN = {
    "key:K1": "passphrase-one", "key:K2": "passphrase-two", "totp:U1": "JBSWY3DPEHPK3PXP",
    "totp:U2": "KRUGS4ZANFZSAYLB", "pending:U2": "MFRGGZDFMZTWQ2LK", "req:KK-1": "pending-passphrase",
}


@dataclass
class World:
    engine: Engine
    old: bytes
    tmp: Path


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _new_key() -> bytes:
    return base64.b64decode(generate_master_key())


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Two kukey keys (one external, no passphrase), two enrollments (one re-enrolling), one request with a
    pending passphrase, and 5 audit events, all under the current master key."""
    old = _new_key()
    engine = new_engine(tmp_path)
    box = SecretBox(old)
    with session_scope(engine) as s:
        for api_key in ("K1", "K2"):
            s.add(KeyRecord(api_key=api_key, sub_account="sub-a", created_at=NOW,
                            passphrase_enc=box.encrypt(PLAIN[f"key:{api_key}"], aad=f"key:{api_key}")))
        s.add(KeyRecord(api_key="K3", sub_account="sub-a", created_at=NOW, origin="external"))
        s.add(Enrollment(user_id="U1", seed_enc=box.encrypt(PLAIN["totp:U1"], aad="totp:U1"), created_at=NOW))
        s.add(Enrollment(user_id="U2", seed_enc=box.encrypt(PLAIN["totp:U2"], aad="totp:U2"), created_at=NOW,
                         pending_seed_enc=box.encrypt(PLAIN["pending:U2"], aad="totp:U2")))
        s.add(Request(id="KK-1", kind="create", state="revealing", requester="U1", sub_account="sub-a",
                      created_at=NOW, expires_at=NOW + timedelta(hours=1),
                      pending_passphrase_enc=box.encrypt(PLAIN["req:KK-1"], aad="req:KK-1")))
    fill(engine, AuditLog(old, FakeClock(NOW)), FakeClock(NOW), 5)
    monkeypatch.setenv("KUKEY_DATABASE_URL", db_url(tmp_path))
    monkeypatch.setenv("KUKEY_MASTER_KEY", _b64(old))
    yield World(engine, old, tmp_path)
    engine.dispose()


def _stored(engine: Engine) -> dict[str, bytes]:
    """Every encrypted blob by its aad (the pending seed as pending:<user>)."""
    blobs: dict[str, bytes] = {}
    with session_scope(engine) as s:
        for k in s.exec(select(KeyRecord)):
            if k.passphrase_enc is not None:
                blobs[f"key:{k.api_key}"] = k.passphrase_enc
        for e in s.exec(select(Enrollment)):
            blobs[f"totp:{e.user_id}"] = e.seed_enc
            if e.pending_seed_enc is not None:
                blobs[f"pending:{e.user_id}"] = e.pending_seed_enc
        for r in s.exec(select(Request)):
            if r.pending_passphrase_enc is not None:
                blobs[f"req:{r.id}"] = r.pending_passphrase_enc
    return blobs


def _decrypt_all(engine: Engine, master: bytes) -> dict[str, str]:
    box = SecretBox(master)
    return {name: box.decrypt(blob, aad=name.replace("pending:", "totp:")).reveal()
            for name, blob in _stored(engine).items()}


def _rekey_with_file(world: World, new: bytes, name: str = "new.key") -> int:
    path = world.tmp / name
    path.write_text(_b64(new) + "\n", encoding="ascii")
    return main(["rekey", "--new-key-file", str(path)])


def test_keygen_prints_only_the_key_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """stdout is exactly one base64 key of 32 bytes; the how-to line goes to stderr."""
    assert main(["keygen"]) == 0
    captured = capsys.readouterr()
    assert len(base64.b64decode(captured.out.strip(), validate=True)) == 32
    assert captured.out.count("\n") == 1
    assert "KUKEY_MASTER_KEY" in captured.err


def test_rekey_keeps_every_secret_usable(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """After rekey every passphrase and seed decrypts with the new key (and not the old one), and the audit
    chain verifies with the new key only, ending in an audit.rekeyed event."""
    new = _new_key()
    assert _rekey_with_file(world, new) == 0
    assert "re-encrypted 2 passphrases, 2 TOTP seeds and 2 pending values" in capsys.readouterr().out
    assert _decrypt_all(world.engine, new) == PLAIN
    with pytest.raises(CryptoError):
        _decrypt_all(world.engine, world.old)
    result = verify(world.engine, master_key=new)
    assert (result.ok, result.count) == (True, 6)
    assert not verify(world.engine, master_key=world.old).ok
    with session_scope(world.engine) as s:
        last = audit_read.events(s)[-1]
    assert (last.action, last.actor, last.key_id) == ("audit.rekeyed", "kukey", key_id(new))
    assert last.detail == {"old_key_id": key_id(world.old), "new_key_id": key_id(new), "keys": 2,
                           "enrollments": 2, "pending": 2}


def test_the_chain_goes_on_after_rekey_and_the_old_key_is_refused(world: World) -> None:
    """The new key appends events that verify; a process still holding the old key cannot append."""
    new = _new_key()
    assert _rekey_with_file(world, new) == 0
    with session_scope(world.engine) as s:
        AuditLog(new, FakeClock()).record(s, "bot.started", actor="kukey")
    with pytest.raises(AuditWriteError, match="retired"), session_scope(world.engine) as s:
        AuditLog(world.old, FakeClock()).record(s, "bot.started", actor="kukey")
    assert verify(world.engine, master_key=new).count == 7


def test_a_leaked_old_key_cannot_forge_new_events(world: World) -> None:
    """An event appended after the rekey but signed with the retired key is named as forged."""
    new = _new_key()
    assert _rekey_with_file(world, new) == 0
    with session_scope(world.engine) as s:
        count, head = audit.head(s)
    fields = dict(seq=count + 1, ts="2026-01-02T00:00:00.000000+00:00", actor="U666", action="key.revealed",
                  request_id=None, sub_account=None, api_key=None, outcome="ok", detail="{}",
                  key_id=key_id(world.old), prev_hash=head)
    forged = audit_chain.sign(audit.audit_key_for(world.old), audit_chain.content(**fields))  # type: ignore[arg-type]
    raw = sqlite3.connect(str(world.engine.url.database))
    try:
        insert(raw, (*fields.values(), forged))
        raw.commit()
    finally:
        raw.close()
    result = verify(world.engine, master_key=new)
    assert (result.ok, result.first_bad_seq) == (False, count + 1)
    assert "retired at event" in result.problem


def test_rekey_twice_and_from_an_env_variable(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rekeying A->B (file) then B->C (env variable) leaves everything readable and verifiable with C."""
    second, third = _new_key(), _new_key()
    assert _rekey_with_file(world, second) == 0
    monkeypatch.setenv("KUKEY_MASTER_KEY", _b64(second))
    monkeypatch.setenv("NEXT_KUKEY_KEY", _b64(third))
    assert main(["rekey", "--new-key-env", "NEXT_KUKEY_KEY"]) == 0
    assert _decrypt_all(world.engine, third) == PLAIN
    assert verify(world.engine, master_key=third) == verify(world.engine, master_key=third, workers=2)
    assert verify(world.engine, master_key=third).count == 7


def test_a_failed_rekey_changes_nothing(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """With K1's passphrase blob copied onto K2's row, rekey exits 2 naming K2 and leaves every blob and the
    audit log exactly as they were."""
    with session_scope(world.engine) as s:
        k1, k2 = s.get(KeyRecord, "K1"), s.get(KeyRecord, "K2")
        assert k1 is not None and k2 is not None
        k2.passphrase_enc = k1.passphrase_enc
    before = _stored(world.engine)
    assert _rekey_with_file(world, _new_key()) == 2
    err = capsys.readouterr().err
    assert "api_key K2 (passphrase) does not decrypt with the current master key, so nothing was" in err
    assert "Traceback" not in err and "passphrase-two" not in err
    assert _stored(world.engine) == before
    assert verify(world.engine, master_key=world.old).count == 5


@pytest.mark.parametrize(("setup", "message"), [
    ("wrong-current", "master key: the audit log was last signed by master key"),  # refused before any write
    ("same-key", "the new master key is the current one"),
    ("bad-file", "not valid base64"),
    ("short-key", "must be base64 of exactly 32 bytes, got 16"),
    ("missing-file", "the file cannot be read"),
])
def test_rekey_refuses_bad_keys(world: World, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch, setup: str, message: str) -> None:
    """A wrong current key, the same key again, or an unreadable or malformed new key: exit 2, one line."""
    path = world.tmp / "new.key"
    new = _new_key()
    path.write_text(_b64(new), encoding="ascii")
    if setup == "wrong-current":
        monkeypatch.setenv("KUKEY_MASTER_KEY", _b64(_new_key()))
    elif setup == "same-key":
        path.write_text(_b64(world.old), encoding="ascii")
    elif setup == "bad-file":
        path.write_text("not base64!", encoding="ascii")
    elif setup == "short-key":
        path.write_text(_b64(new[:16]), encoding="ascii")
    else:
        path = world.tmp / "nowhere.key"
    assert main(["rekey", "--new-key-file", str(path)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert verify(world.engine, master_key=world.old).count == 5


def test_a_key_used_before_is_refused(world: World, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Going back to a retired master key (A->B->A) is refused: a retired key must stay retired."""
    second = _new_key()
    assert _rekey_with_file(world, second) == 0
    monkeypatch.setenv("KUKEY_MASTER_KEY", _b64(second))
    assert _rekey_with_file(world, world.old, "old.key") == 2
    assert "was used before" in capsys.readouterr().err


def test_the_current_key_must_have_signed_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """With no encrypted rows to catch it, a wrong current key is still refused: it did not sign the log."""
    engine = new_engine(tmp_path)
    fill(engine, AuditLog(_new_key(), FakeClock()), FakeClock(), 2)
    engine.dispose()
    monkeypatch.setenv("KUKEY_DATABASE_URL", db_url(tmp_path))
    monkeypatch.setenv("KUKEY_MASTER_KEY", generate_master_key())
    monkeypatch.setenv("NEW_KEY", generate_master_key())
    assert main(["rekey", "--new-key-env", "NEW_KEY"]) == 2
    # the preflight (bot.cli.startup) refuses it before rekey opens a transaction
    assert "master key: the audit log was last signed by master key " in capsys.readouterr().err


def test_the_new_key_is_never_taken_from_argv(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """rekey has no way to pass the key itself as an argument (ps would show it)."""
    with pytest.raises(SystemExit):
        main(["rekey", generate_master_key()])
    assert "--new-key-file" in capsys.readouterr().err
