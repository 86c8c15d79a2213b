"""Checking a second factor a person shows: a TOTP code, a recovery code or a passkey.

Sign-in (``api/auth.py``) and step-up (``api/step_up.py``) accept the same proofs the same
way; only what follows differs (a promoted session, or a fresh step-up time). Both call
this one verifier, so a fix to how a factor is checked (a replayed code, a passkey's
challenge purpose, a cloned authenticator's sign count) cannot reach one and miss the other.
The verifier answers accepted or not and never why: the caller counts a refusal against the
account's lockout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import BrowserSession, User
from broker.errors import BadRequest, PasskeyRejected
from broker.identity import mfa, passkeys, sessions
from broker.identity.passkeys import RelyingParty
from broker.secretbox import SecretBox


class Method(StrEnum):
    TOTP = "totp"
    RECOVERY = "recovery"
    PASSKEY = "passkey"


@dataclass(frozen=True)
class Verifier:
    """What checking needs beyond the database: the TOTP secrets' key and the relying party."""

    totp_box: SecretBox
    relying_party: RelyingParty


async def passkey_options(
    db: AsyncSession,
    verifier: Verifier,
    record: BrowserSession,
    user: User,
    purpose: str,
    now: datetime,
) -> dict[str, Any]:
    """WebAuthn request options for ``user``'s passkeys; the challenge is kept on the
    session for ``purpose`` (a challenge asked for sign-in cannot answer a step-up).

    Raises:
        BadRequest: ``no_passkey``.
    """
    keys = await mfa.passkeys_of(db, user.id)
    if not keys:
        raise BadRequest("no passkey enrolled", code="no_passkey")
    options, challenge = passkeys.authentication_options(
        verifier.relying_party, [k.credential_id for k in keys]
    )
    sessions.keep_challenge(record, challenge, purpose, now)
    return options


async def check_code(
    db: AsyncSession, verifier: Verifier, user: User, method: Method, code: str, now: datetime
) -> bool:
    """A TOTP code (each works once) or a recovery code (spent); True if accepted."""
    if method is Method.TOTP:
        typed = code.strip().replace(" ", "")
        return await mfa.verify_totp(db, verifier.totp_box, user, typed, now)
    if method is Method.RECOVERY:
        return await mfa.use_recovery_code(db, user.id, code, now)
    raise ValueError(f"not a code: {method}")


async def check_passkey(
    db: AsyncSession,
    verifier: Verifier,
    record: BrowserSession,
    user: User,
    credential: dict[str, Any],
    purpose: str,
    now: datetime,
) -> bool:
    """A passkey assertion against the challenge kept for ``purpose`` (spent whatever the
    outcome); on success the key's sign count and last use are updated."""
    challenge = sessions.take_challenge(record, purpose, now)
    credential_id = passkeys.credential_id_of(credential)
    key = await mfa.passkey_by_credential(db, user.id, credential_id) if credential_id else None
    if challenge is None or key is None:
        return False
    try:
        key.sign_count = passkeys.verify_authentication(
            verifier.relying_party, credential, challenge, key.public_key, key.sign_count
        )
    except PasskeyRejected:
        return False
    key.last_used_at = now
    return True
