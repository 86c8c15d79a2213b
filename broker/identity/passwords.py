"""Passwords: the policy checked when one is set, and argon2id hashing.

Policy (R7 checklist ⑦, Provider GL 別紙2 ④-9..11; MHLW.md row 6):
- at least 8 characters mixing letters, digits and symbols, or at least 13 characters;
- not on the shipped list of common passwords, also after stripping digits and symbols at
  both ends and collapsing repeats ("!Password1", "#iloveyou#1" and "dragondragon1!" are
  "password", "iloveyou" and "dragon" with decoration: issue 12);
- not containing the user name or a part of the person's name (4+ letters, any case), and
  none of the user's last 5 passwords;
- at least 5 different characters;
- at most 128 characters (argon2 would take more, but nobody types more; it bounds work).
Passwords are NFKC-normalized first, so a full-width ＡＢＣ１２３ typed through a Japanese
IME equals the half-width one (NIST SP 800-63B §5.1.1.2). They are never logged.
"""

from __future__ import annotations

import asyncio
import functools
import re
import unicodedata
from collections.abc import Iterable
from importlib import resources
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from broker.errors import PasswordRejected

MIN_MIXED_CHARS: Final = 8  # R7 checklist ⑦: 英数字・記号を混在させた 8 文字以上
MIN_PLAIN_CHARS: Final = 13  # R7 checklist ⑦: または 13 文字以上
MAX_CHARS: Final = 128
# "aaaaaaaaaaaaa" is 13 characters but one guess: a floor on distinct characters.
MIN_DISTINCT_CHARS: Final = 5
HISTORY_DEPTH: Final = 5  # no reuse of the last 5 (R7 checklist ⑧ / Provider GL ④-11)

# argon2-cffi's defaults are RFC 9106's second recommended profile: argon2id, t=3, 64 MiB, p=4.
_hasher = PasswordHasher()
_DECORATION = re.compile(r"^[\d\W_]+|[\d\W_]+$")
_RUNS = re.compile(r"(.)\1+")
_NAME_PARTS = re.compile(r"[\W\d_]+")
MIN_NAME_PART_CHARS: Final = 4  # "sato", "yamada": shorter parts are too common to refuse


def normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list (``common_passwords.txt``), lowercase."""
    text = resources.files("broker.identity").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


def _kinds(password: str) -> set[str]:
    kinds = set()
    for char in password:
        if char.isdigit():
            kinds.add("digit")
        elif char.isalpha():
            kinds.add("letter")
        elif not char.isspace():
            kinds.add("symbol")
    return kinds


def _cores(lowered: str) -> set[str]:
    """What a decorated password is made of: itself, without digits and symbols at both
    ends, that repeated unit once ("dragondragon" is "dragon"), and runs collapsed."""
    core = _DECORATION.sub("", lowered)
    found = {lowered, core, _RUNS.sub(r"\1", core)}
    for size in range(1, len(core) // 2 + 1):
        if len(core) % size == 0 and core[:size] * (len(core) // size) == core:
            found.add(core[:size])
            break
    return found


def _name_parts(names: Iterable[str]) -> set[str]:
    parts = set()
    for name in names:
        for part in _NAME_PARTS.split(normalize(name).lower()):
            if len(part) >= MIN_NAME_PART_CHARS:
                parts.add(part)
    return parts


def check_policy(password: str, username: str = "", *names: str) -> str:
    """The normalized password if it meets the policy (history is checked separately).

    Raises:
        PasswordRejected: with reason ``too_short``, ``too_long``, ``too_simple``, ``common`` or
            ``username``.
    """
    password = normalize(password)
    length = len(password)
    if length > MAX_CHARS:
        raise PasswordRejected("too_long", f"at most {MAX_CHARS} characters")
    mixed = len(_kinds(password)) == 3
    if length < MIN_PLAIN_CHARS and not (mixed and length >= MIN_MIXED_CHARS):
        raise PasswordRejected(
            "too_short",
            f"use {MIN_MIXED_CHARS}+ characters mixing letters, digits and symbols, "
            f"or {MIN_PLAIN_CHARS}+ characters",
        )
    if len(set(password)) < MIN_DISTINCT_CHARS:
        raise PasswordRejected("too_simple", "use more different characters")
    lowered = password.lower()
    listed = common_passwords()
    if _cores(lowered) & listed:
        raise PasswordRejected("common", "this password is on the list of common passwords")
    if username and normalize(username).lower() in lowered:
        raise PasswordRejected("username", "the password must not contain the user name")
    if any(part in lowered for part in _name_parts((username, *names))):
        raise PasswordRejected("username", "the password must not contain your name")
    return password


def hash_password(password: str) -> str:
    """argon2id hash of the normalized password (blocking: ~50 ms; see the async variants)."""
    return _hasher.hash(normalize(password))


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches; never raises for a wrong or malformed hash."""
    try:
        return _hasher.verify(password_hash, normalize(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("mamori-dummy-password-for-timing")


def verify_dummy(password: str) -> None:
    """Spend the time of a real verify, for unknown users (timing must not tell: GL 5.2)."""
    verify_password(_dummy_hash(), password)


def reused(password: str, previous_hashes: Iterable[str]) -> bool:
    """True if ``password`` matches any of ``previous_hashes`` (newest first, at most 5)."""
    return any(verify_password(h, password) for h in list(previous_hashes)[:HISTORY_DEPTH])


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    """Verify off the event loop; ``None`` (no password set yet) verifies the dummy."""
    if password_hash is None:
        await asyncio.to_thread(verify_dummy, password)
        return False
    return await asyncio.to_thread(verify_password, password_hash, password)


async def reused_async(password: str, previous_hashes: Iterable[str]) -> bool:
    return await asyncio.to_thread(reused, password, list(previous_hashes))
