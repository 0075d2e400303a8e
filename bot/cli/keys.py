"""`kukey keygen` and `kukey rekey`: make a master key; move every stored secret to a new one.

rekey re-encrypts, in ONE transaction with the "audit.rekeyed" event: KeyRecord.passphrase_enc
("key:<api_key>"), Enrollment.seed_enc and pending_seed_enc ("totp:<user_id>"), and
Request.pending_passphrase_enc ("req:<id>"). If any value does not decrypt, nothing changes and the
error names the row. The new key is read from a file or an environment variable, never from argv
(where `ps` would show it).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from bot import config
from bot.cli.audit import open_database
from bot.domain.clock import Clock, SystemClock
from bot.domain.text import noun
from bot.errors import ConfigError, CryptoError
from bot.security.crypto import MASTER_KEY_BYTES, SecretBox, generate_master_key, key_id
from bot.storage.audit_rekey import rekey_audit
from bot.storage.db import init_db, session_scope
from bot.storage.tables import Enrollment, KeyRecord, Request

_KEYGEN_HINT = ("kukey: a new master key is on stdout. Put it in a file only kukey can read and set "
                "KUKEY_MASTER_KEY_FILE to its path (or set KUKEY_MASTER_KEY); keep a copy offline: "
                "without it, stored passphrases and TOTP seeds cannot be decrypted.")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keygen = subparsers.add_parser("keygen", help="print a new master key (base64 of 32 random bytes)")
    keygen.set_defaults(func=keygen_command)
    rekey = subparsers.add_parser("rekey", help="re-encrypt every stored secret under a new master key")
    source = rekey.add_mutually_exclusive_group(required=True)
    source.add_argument("--new-key-file", metavar="FILE", help="a file holding the new key (from keygen)")
    source.add_argument("--new-key-env", metavar="VAR", help="an environment variable holding the new key")
    rekey.set_defaults(func=rekey_command)


def keygen_command(args: argparse.Namespace) -> int:
    print(generate_master_key())
    print(_KEYGEN_HINT, file=sys.stderr)
    return 0


def rekey_command(args: argparse.Namespace) -> int:
    settings = config.Settings.from_env(need=[config.MASTER_KEY])
    new_key = read_new_key(file=args.new_key_file, env_var=args.new_key_env)
    engine = open_database(settings.database_url)
    try:
        init_db(engine, auto_migrate=settings.auto_migrate)
        with session_scope(engine) as session:
            report = rekey_database(session, old_master=settings.master_key_bytes(), new_master=new_key,
                                    clock=SystemClock())
    finally:
        engine.dispose()
    print(f"kukey: re-encrypted {report.passphrases} {noun(report.passphrases, 'passphrase')}, {report.seeds} "
          f"TOTP {noun(report.seeds, 'seed')} and {report.pending} pending {noun(report.pending, 'value')} "
          f"under master key {report.new_key_id} "
          f"(was {report.old_key_id}); audit event {report.seq} records it.")
    print("Now point KUKEY_MASTER_KEY (or KUKEY_MASTER_KEY_FILE) at the new key and restart kukey: "
          "the old key no longer decrypts anything.")
    return 0


@dataclass(frozen=True)
class RekeyReport:
    passphrases: int
    seeds: int
    pending: int
    old_key_id: str
    new_key_id: str
    seq: int


def rekey_database(session: Session, *, old_master: bytes, new_master: bytes, clock: Clock) -> RekeyReport:
    """Re-encrypt every encrypted column and retire the old audit key, in the session's transaction.
    Raises CryptoError naming the first row that does not decrypt (the caller then rolls back)."""
    old_box, new_box = SecretBox(old_master), SecretBox(new_master)

    def redo(blob: bytes, aad: str, row: str) -> bytes:
        try:
            plain = old_box.decrypt_bytes(blob, aad=aad)
        except CryptoError as exc:
            raise CryptoError(f"{row} does not decrypt with the current master key, so nothing was "
                              f"changed: {exc}") from exc
        return new_box.encrypt_bytes(plain, aad=aad)

    passphrases = seeds = pending = 0
    for key in session.exec(select(KeyRecord).where(col(KeyRecord.passphrase_enc).is_not(None))):
        assert key.passphrase_enc is not None
        key.passphrase_enc = redo(key.passphrase_enc, f"key:{key.api_key}",
                                  f"api_key {key.api_key} (passphrase)")
        passphrases += 1
    for enrollment in session.exec(select(Enrollment)):
        aad, row = f"totp:{enrollment.user_id}", f"enrollment {enrollment.user_id}"
        enrollment.seed_enc = redo(enrollment.seed_enc, aad, f"{row} (seed)")
        seeds += 1
        if enrollment.pending_seed_enc is not None:
            enrollment.pending_seed_enc = redo(enrollment.pending_seed_enc, aad, f"{row} (pending seed)")
            pending += 1
    for request in session.exec(select(Request).where(col(Request.pending_passphrase_enc).is_not(None))):
        assert request.pending_passphrase_enc is not None
        request.pending_passphrase_enc = redo(request.pending_passphrase_enc, f"req:{request.id}",
                                              f"request {request.id} (pending passphrase)")
        pending += 1
    session.flush()
    seq = rekey_audit(session, old_master=old_master, new_master=new_master, clock=clock,
                      detail={"keys": passphrases, "enrollments": seeds, "pending": pending})
    return RekeyReport(passphrases, seeds, pending, key_id(old_master), key_id(new_master), seq)


def read_new_key(*, file: str | None, env_var: str | None) -> bytes:
    """The new master key from a file or an environment variable, checked: base64 of 32 bytes."""
    if file is not None:
        source = f"--new-key-file {file}"
        try:
            text = Path(file).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            raise ConfigError(f"{source}: the file cannot be read") from None
    else:
        source = f"--new-key-env {env_var}"
        text = os.environ.get(env_var or "", "").strip()
        if not text:
            raise ConfigError(f"{source}: the variable {env_var} is not set", variable=env_var)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{source}: not valid base64 (make one with `kukey keygen`)") from None
    if len(raw) != MASTER_KEY_BYTES:
        raise ConfigError(f"{source}: must be base64 of exactly {MASTER_KEY_BYTES} bytes, got {len(raw)}")
    return raw
