"""The Ed25519 key that signs audit checkpoints: one PEM file, created on first start.

The file lives in the data folder (``MAMORI_AUDIT_KEY_FILE`` to put it elsewhere, e.g. on a
volume every replica mounts: replicas sharing a database must share the key too). It is
created with mode 0600 and refused when group or others may read it, like ssh does, since
whoever holds it can sign a checkpoint over a rewritten chain. Its public key is printed by
``python -m broker audit public-key`` so an auditor can keep it apart from the broker and
verify with ``audit verify --public-key FILE``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from broker.errors import ConfigError


def _write_new(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL: two replicas starting together on a shared volume keep the first one's key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_private_key(path: Path, *, create: bool) -> Ed25519PrivateKey:
    """The signing key in ``path``; a new one written there first if ``create`` and absent.

    Raises:
        ConfigError: absent (and not to be created), readable by others, or not an Ed25519
            private key.
    """
    if create and not path.exists():
        # FileExistsError: another process wrote it a moment ago; use that one.
        with contextlib.suppress(FileExistsError):
            _write_new(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise ConfigError(f"no audit signing key at {path}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"the audit signing key {path} is readable by others: chmod 600 it")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} does not hold a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} does not hold an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An auditor's copy of the public key (PEM, as ``audit public-key`` prints it)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read a PEM public key from {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path} does not hold an Ed25519 public key")
    return key


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_id(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex: stored with every checkpoint it signs."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()
