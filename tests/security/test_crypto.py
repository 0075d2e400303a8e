"""SecretBox: AES-256-GCM under the master key, each ciphertext bound to its row; fails loudly otherwise."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.secret import Secret
from bot.errors import CryptoError
from bot.security.crypto import SecretBox, blob_key_id, derive_key, generate_master_key, key_id
from bot.storage.db import init_db, make_engine, session_scope
from bot.storage.tables import Enrollment, KeyRecord

PASSPHRASE = "Correct-Horse-Battery-7"
SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _master() -> bytes:
    return base64.b64decode(generate_master_key())


def test_round_trip_returns_a_secret() -> None:
    """encrypt then decrypt with the same key and aad gives back the value, wrapped in Secret."""
    box = SecretBox(_master())
    value = box.decrypt(box.encrypt(Secret(PASSPHRASE), aad="key:K1"), aad="key:K1")
    assert isinstance(value, Secret) and value.reveal() == PASSPHRASE
    assert box.decrypt(box.encrypt("plain str", aad="totp:U1"), aad="totp:U1").reveal() == "plain str"


def test_each_encryption_uses_a_fresh_nonce() -> None:
    """The same value encrypted twice gives different blobs (random 96-bit nonce)."""
    box = SecretBox(_master())
    assert box.encrypt(PASSPHRASE, aad="key:K1") != box.encrypt(PASSPHRASE, aad="key:K1")


def test_blob_layout_is_version_key_id_nonce_ciphertext() -> None:
    """A blob starts with version 1 and the 4-byte key id, then a 12-byte nonce and ciphertext + tag."""
    master = _master()
    blob = SecretBox(master).encrypt(PASSPHRASE, aad="key:K1")
    assert blob[0] == 1
    assert blob[1:5].hex() == key_id(master) == blob_key_id(blob)
    assert len(blob) == 1 + 4 + 12 + len(PASSPHRASE) + 16


def test_the_wrong_master_key_fails_loudly_without_leaking() -> None:
    """Decrypting under another master key raises CryptoError naming both key ids, never the value or key."""
    master, other = _master(), _master()
    blob = SecretBox(master).encrypt(PASSPHRASE, aad="key:K1")
    with pytest.raises(CryptoError, match="another master key") as caught:
        SecretBox(other).decrypt(blob, aad="key:K1")
    message = str(caught.value)
    assert key_id(master) in message and key_id(other) in message
    assert PASSPHRASE not in message
    assert base64.b64encode(master).decode() not in message and master.hex() not in message


def test_a_ciphertext_moved_to_another_row_fails() -> None:
    """A passphrase blob copied to another key's row (other aad) does not decrypt."""
    box = SecretBox(_master())
    blob = box.encrypt(PASSPHRASE, aad="key:K1")
    with pytest.raises(CryptoError, match="belongs to another row or was altered"):
        box.decrypt(blob, aad="key:K2")
    with pytest.raises(CryptoError):
        box.decrypt(box.encrypt(SEED, aad="totp:U1"), aad="totp:U2")


def test_an_altered_or_malformed_blob_fails() -> None:
    """Flipping a ciphertext bit, truncating, or an unknown version raises CryptoError."""
    box = SecretBox(_master())
    blob = box.encrypt(PASSPHRASE, aad="key:K1")
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    for bad in (flipped, blob[:20], b"\x02" + blob[1:]):
        with pytest.raises(CryptoError):
            box.decrypt(bad, aad="key:K1")


def test_a_master_key_of_the_wrong_size_is_refused() -> None:
    """Only 32-byte master keys are accepted."""
    with pytest.raises(CryptoError, match="32 bytes"):
        SecretBox(os.urandom(16))


def test_generated_keys_are_base64_of_32_random_bytes() -> None:
    """generate_master_key gives distinct base64 strings of 32 bytes."""
    keys = {generate_master_key() for _ in range(3)}
    assert len(keys) == 3
    assert all(len(base64.b64decode(k, validate=True)) == 32 for k in keys)


def test_derived_keys_are_stable_and_separate_per_purpose() -> None:
    """derive_key is deterministic per (master, purpose) and different purposes give different keys."""
    master = _master()
    assert derive_key(master, "kukey audit v1") == derive_key(master, "kukey audit v1")
    assert derive_key(master, "kukey audit v1") != derive_key(master, "kukey secretbox v1")
    assert len(derive_key(master, "x")) == 32


def test_repr_shows_only_the_key_id() -> None:
    """A SecretBox in a log or traceback shows its key id, not key material."""
    master = _master()
    assert repr(SecretBox(master)) == f"SecretBox(key_id={key_id(master)})"


def test_the_database_files_never_hold_the_plaintext(tmp_path: Path) -> None:
    """After storing an encrypted passphrase and seed, neither the main file nor the WAL contains them."""
    engine = make_engine(f"sqlite:///{tmp_path / 'kukey.db'}")
    init_db(engine)
    box = SecretBox(_master())
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with session_scope(engine) as s:
            s.add(KeyRecord(api_key="K1", sub_account="sub-a", created_at=now,
                            passphrase_enc=box.encrypt(PASSPHRASE, aad="key:K1")))
            s.add(Enrollment(user_id="U1", seed_enc=box.encrypt(SEED, aad="totp:U1"), created_at=now))
        files = [p for p in tmp_path.iterdir() if p.name.startswith("kukey.db")]
        data = b"".join(p.read_bytes() for p in files)
        assert any(p.name.endswith("-wal") for p in files)
        assert PASSPHRASE.encode() not in data and SEED.encode() not in data
        with session_scope(engine) as s:
            key = s.get(KeyRecord, "K1")
            assert key is not None and key.passphrase_enc is not None
            assert box.decrypt(key.passphrase_enc, aad="key:K1").reveal() == PASSPHRASE
    finally:
        engine.dispose()
