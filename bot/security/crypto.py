"""Secrets at rest: AES-256-GCM under a key derived from the master key, each blob bound to its row.

Blob layout (bytes): version (1) | key id (4) | nonce (12) | ciphertext + GCM tag.
The key id is a fingerprint of the master key (HMAC(master, "kukey key id")[:4]): it says which
master key a blob needs without revealing anything about it. Version and key id are authenticated
together with the caller's associated data ("key:<api_key>", "totp:<user_id>"), so a blob copied to
another row, or decrypted under another master key, fails loudly with CryptoError.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.domain.secret import Secret
from bot.errors import CryptoError

VERSION = 1
KEY_ID_BYTES = 4
NONCE_BYTES = 12
MASTER_KEY_BYTES = 32
_HEADER = 1 + KEY_ID_BYTES
_BOX_PURPOSE = "kukey secretbox v1"


def generate_master_key() -> str:
    """A new master key: base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(MASTER_KEY_BYTES)).decode("ascii")


def derive_key(master: bytes, purpose: str, *, length: int = 32) -> bytes:
    """A subkey for one purpose (HKDF-SHA256, info=purpose); different purposes give unrelated keys."""
    _check_master(master)
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(master)


def key_id(master: bytes) -> str:
    """The master key's public fingerprint, as 8 hex characters."""
    _check_master(master)
    return hmac.digest(master, b"kukey key id", hashlib.sha256)[:KEY_ID_BYTES].hex()


def blob_key_id(blob: bytes) -> str:
    """The key id a blob was encrypted under (raises CryptoError if the blob is malformed)."""
    _check_blob(blob)
    return blob[1:_HEADER].hex()


class SecretBox:
    """Encrypts and decrypts small secrets (passphrases, TOTP seeds, wrapped keys) under one master key."""

    __slots__ = ("_aead", "key_id")

    def __init__(self, master_key: bytes) -> None:
        self.key_id = key_id(master_key)
        self._aead = AESGCM(derive_key(master_key, _BOX_PURPOSE))

    def __repr__(self) -> str:
        return f"SecretBox(key_id={self.key_id})"

    def encrypt(self, value: Secret | str, *, aad: str) -> bytes:
        """Encrypt a secret, bound to `aad` (the row it belongs to)."""
        text = value.reveal() if isinstance(value, Secret) else value
        return self.encrypt_bytes(text.encode("utf-8"), aad=aad)

    def decrypt(self, blob: bytes, *, aad: str) -> Secret:
        """Decrypt a blob made by encrypt() with the same aad; CryptoError otherwise."""
        data = self.decrypt_bytes(blob, aad=aad)
        try:
            return Secret(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise CryptoError(f"decrypted value for {aad!r} is not text") from exc

    def encrypt_bytes(self, data: bytes, *, aad: str) -> bytes:
        """Encrypt raw bytes (used to wrap keys), bound to `aad`."""
        header = bytes([VERSION]) + bytes.fromhex(self.key_id)
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + self._aead.encrypt(nonce, data, header + aad.encode("utf-8"))

    def decrypt_bytes(self, blob: bytes, *, aad: str) -> bytes:
        """Decrypt raw bytes made by encrypt_bytes() with the same aad; CryptoError otherwise."""
        blob_id = blob_key_id(blob)
        if blob_id != self.key_id:
            raise CryptoError(
                f"the value for {aad!r} was encrypted under another master key "
                f"(key id {blob_id}; the current master key's id is {self.key_id})"
            )
        header, nonce = blob[:_HEADER], blob[_HEADER:_HEADER + NONCE_BYTES]
        body = blob[_HEADER + NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, header + aad.encode("utf-8"))
        except InvalidTag as exc:
            raise CryptoError(
                f"the value for {aad!r} does not decrypt: it belongs to another row or was altered"
            ) from exc


def _check_master(master: bytes) -> None:
    if not isinstance(master, bytes) or len(master) != MASTER_KEY_BYTES:
        raise CryptoError(f"the master key must be exactly {MASTER_KEY_BYTES} bytes")


def _check_blob(blob: bytes) -> None:
    if not isinstance(blob, bytes) or len(blob) < _HEADER + NONCE_BYTES + 16:
        raise CryptoError("the encrypted value is malformed (too short)")
    if blob[0] != VERSION:
        raise CryptoError(f"the encrypted value has an unknown format version {blob[0]}")
