"""Sealing second-factor secrets at rest (docs/second-factors.md, "Secrets at rest")."""

from __future__ import annotations

import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PLAIN, _SEALED = b"p0:", b"g1:"


class SecretBox:
    """Seals TOTP secrets (AES-256-GCM, key derived from `security.secret_key` by HKDF, bound to
    the account) and hashes recovery codes (HMAC-SHA-256 with a per-code salt under a second
    derived key). Without a configured key, secrets are stored in a marked plain form and codes
    under an unkeyed salted hash; either way the stored value names its scheme, so a key (or a
    key-encryption key) can be introduced later without a schema change."""

    def __init__(self, secret_key: bytes | None) -> None:
        self._aead: AESGCM | None = None
        self._mac_key = b""
        if secret_key:
            self._aead = AESGCM(_derive(secret_key, b"mailgate/totp-secret/v1"))
            self._mac_key = _derive(secret_key, b"mailgate/recovery-code/v1")

    def seal(self, plain: bytes, account_id: int) -> bytes:
        if self._aead is None:
            return _PLAIN + plain
        nonce = os.urandom(12)
        return _SEALED + nonce + self._aead.encrypt(nonce, plain, _context(account_id))

    def open(self, sealed: bytes, account_id: int) -> bytes | None:
        """The plain secret, or None when it cannot be opened (key missing or changed)."""
        if sealed.startswith(_PLAIN):
            return sealed[len(_PLAIN) :]
        if sealed.startswith(_SEALED) and self._aead is not None:
            body = sealed[len(_SEALED) :]
            try:
                return self._aead.decrypt(body[:12], body[12:], _context(account_id))
            except InvalidTag:
                return None
        return None

    def code_hash(
        self, account_id: int, code: str, salt: bytes | None = None, *, keyed: bool = True
    ) -> str:
        salt = salt if salt is not None else os.urandom(16)
        key = self._mac_key if keyed else b""
        mac = hmac.new(key, salt + _context(account_id) + code.encode(), "sha256")
        return f"{'h1' if key else 's1'}${salt.hex()}${mac.hexdigest()}"

    def code_matches(self, stored: str, account_id: int, code: str) -> bool:
        """Codes hashed before a key was configured (s1) still match; keyed ones (h1) need
        the key."""
        scheme, _, rest = stored.partition("$")
        salt_hex, _, _ = rest.partition("$")
        if scheme not in {"h1", "s1"} or (scheme == "h1" and not self._mac_key):
            return False
        salt = bytes.fromhex(salt_hex)
        expected = self.code_hash(account_id, code, salt, keyed=scheme == "h1")
        return hmac.compare_digest(expected, stored)


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def _context(account_id: int) -> bytes:
    return f"account:{account_id}:".encode()
