"""Keys derived from ``MAMORI_SECRET_KEY`` and AES-256-GCM for secrets kept at rest.

One master key, one HKDF-derived key per purpose, so the TOTP cipher key and the CSRF HMAC
key never coincide. Each sealed value is bound to its row (associated data), so a ciphertext
copied onto another user's row does not decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from broker.errors import DecryptionError

NONCE_BYTES: Final = 12  # GCM's standard nonce; random per message (NIST SP 800-38D §8.2.2)
_VERSION: Final = b"\x01"


def derive_key(master: bytes, purpose: str) -> bytes:
    """A 256-bit key for ``purpose`` (HKDF-SHA256, RFC 5869)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"mamori {purpose}".encode()
    ).derive(master)


class SecretBox:
    """Seals and opens small secrets with AES-256-GCM."""

    def __init__(self, master: bytes, purpose: str) -> None:
        self._aead = AESGCM(derive_key(master, purpose))

    def seal(self, plaintext: bytes, bound_to: str) -> bytes:
        """``version || nonce || ciphertext+tag``, authenticated together with ``bound_to``."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, bound_to.encode())

    def open(self, sealed: bytes, bound_to: str) -> bytes:
        """The plaintext of ``seal(plaintext, bound_to)``.

        Raises:
            DecryptionError: wrong key, wrong binding, truncated or altered.
        """
        if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != _VERSION:
            raise DecryptionError("not a sealed value")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, bound_to.encode())
        except InvalidTag as exc:
            raise DecryptionError("sealed value does not open") from exc


def token_digest(token: str) -> str:
    """SHA-256 hex of a random token (session, ticket, link, agent token, recovery code).

    A fast hash is enough: these tokens carry 128+ bits of entropy, so the digest cannot be
    reversed by guessing, and the lookup stays one indexed query.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """256 bits from the OS CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


def keyed_digest(key: bytes, message: str) -> str:
    """HMAC-SHA256 hex of ``message`` under ``key``."""
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
