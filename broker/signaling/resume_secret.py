"""A session's resume secret as the database keeps it: its SHA-256, never the secret (the
page holds that in memory only; a database dump must not let anyone take a session over)."""

from __future__ import annotations

import hashlib


def secret_hash(secret: str) -> str:
    """Hex SHA-256 of the secret (32 random bytes: no salt or slow hash needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()
