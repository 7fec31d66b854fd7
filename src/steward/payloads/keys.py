"""Payload encryption keys: AES-256-GCM, one key that encrypts and any number that decrypt.

Keys are 32 random bytes, base64-encoded in environment variables that `[payloads]
encryption_keys` references (`env:NAME`). The first listed key encrypts new payloads; every listed
key can decrypt, so a rotation is: put the new key first, keep the old one until `steward data
reencrypt` or retention has removed the rows it sealed, then drop it.

A row names its key by a fingerprint (the first 8 hex digits of SHA-256 of the key), never by the
variable's name, so renaming a variable does not orphan rows. The request id is authenticated
data: a ciphertext moved to another row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from steward.config.schema import PayloadsConfig
from steward.config.secrets import resolve_secret
from steward.errors import ConfigError, PayloadKeyError

__all__ = ["KEY_BYTES", "NONCE_BYTES", "PayloadKeyring", "Sealed", "generate_key", "key_id"]

KEY_BYTES = 32
NONCE_BYTES = 12
_URLSAFE = str.maketrans("-_", "+/")


def key_id(key: bytes) -> str:
    """The fingerprint stored with every row the key encrypted."""
    return hashlib.sha256(key).hexdigest()[:8]


def generate_key() -> str:
    """A new key, base64-encoded, for an environment variable."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


@dataclass(frozen=True, slots=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes


class PayloadKeyring:
    """The configured keys, current first. Thread-safe: AESGCM objects hold no per-call state."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._ciphers: dict[str, AESGCM] = {}
        for key in keys:
            if len(key) != KEY_BYTES:
                raise ValueError(f"a payload key must be {KEY_BYTES} bytes, not {len(key)}")
            self._ciphers.setdefault(key_id(key), AESGCM(key))
        self.current_id = key_id(keys[0])

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    @classmethod
    def from_config(
        cls, config: PayloadsConfig, environ: Mapping[str, str] | None = None
    ) -> PayloadKeyring | None:
        """The keys `[payloads] encryption_keys` references; None when it lists none.

        Raises `ConfigError` naming the variable when one is unset or not a 32-byte base64 key.
        """
        environ = os.environ if environ is None else environ
        keys = [_decode_key(reference, environ) for reference in config.encryption_keys]
        if not keys:
            return None
        ids = [key_id(k) for k in keys]
        if len(set(ids)) != len(ids):
            raise ConfigError("[payloads] encryption_keys: two references hold the same key")
        return cls(keys)

    def encrypt(self, plaintext: bytes, request_id: str) -> Sealed:
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = self._ciphers[self.current_id].encrypt(nonce, plaintext, request_id.encode())
        return Sealed(self.current_id, nonce, ciphertext)

    def decrypt(self, sealed: Sealed, request_id: str) -> bytes:
        """Raises `PayloadKeyError` when the key is not configured or authentication fails."""
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise PayloadKeyError(
                f"payload {request_id} is encrypted with key {sealed.key_id}, which is not in "
                f"[payloads] encryption_keys (configured: {', '.join(self._ciphers)})"
            )
        try:
            return cipher.decrypt(sealed.nonce, sealed.ciphertext, request_id.encode())
        except (InvalidTag, ValueError):
            raise PayloadKeyError(
                f"payload {request_id} does not decrypt with key {sealed.key_id}: "
                "the stored row was altered or belongs to another request"
            ) from None


def _decode_key(reference: str, environ: Mapping[str, str]) -> bytes:
    value = resolve_secret(reference, environ)
    where = f"[payloads] encryption_keys: {reference}"
    if value is None:
        raise ConfigError(
            f"{where} is unset; set it to a key from "
            '`python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"`'
        )
    try:
        text = value.strip().translate(_URLSAFE)  # standard or URL-safe alphabet
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where} is not base64") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{where} decodes to {len(key)} bytes; a key is {KEY_BYTES} random bytes")
    return key
