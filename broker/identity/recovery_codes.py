"""Ten single-use recovery codes per user, shown once, kept as SHA-256 digests.

A code is 16 characters of Crockford-style base32 (80 bits), shown as four groups of four:
too much entropy to guess or to reverse from its digest, short enough to type from paper.
"""

from __future__ import annotations

import secrets
from typing import Final

from broker.secretbox import token_digest

COUNT: Final = 10
_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: nothing to misread
_MISREAD: Final = str.maketrans("OIL", "011")
_GROUPS: Final = 4
_GROUP_LEN: Final = 4


def generate() -> list[str]:
    """Ten new codes like ``7KQ2-M9XD-4HTR-0BPV``."""
    codes = []
    for _ in range(COUNT):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUPS * _GROUP_LEN))
        codes.append("-".join(raw[i : i + _GROUP_LEN] for i in range(0, len(raw), _GROUP_LEN)))
    return codes


def normalize(code: str) -> str | None:
    """Uppercase, without separators or spaces, misreadable letters mapped; None if it
    cannot be a code."""
    cleaned = code.upper().replace("-", "").replace(" ", "")
    cleaned = cleaned.translate(_MISREAD)
    if len(cleaned) != _GROUPS * _GROUP_LEN or any(c not in _ALPHABET for c in cleaned):
        return None
    return cleaned


def digest(code: str) -> str | None:
    """The stored form of a code as typed, or None if it is not a well-formed code."""
    normalized = normalize(code)
    return None if normalized is None else token_digest("recovery:" + normalized)
