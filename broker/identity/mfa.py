"""Second factors held by a user: TOTP, passkeys and recovery codes.

MFA is mandatory for every role (MHLW.md row 5): a user must keep at least one of TOTP or
a passkey, so removing the last one is refused. Verification here never says why a code
failed; the caller counts failures for the lockout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import Passkey, RecoveryCode, TotpCredential, User
from broker.errors import DecryptionError
from broker.identity import recovery_codes, totp
from broker.secretbox import SecretBox


@dataclass(frozen=True)
class Factors:
    totp: bool
    passkeys: int
    recovery_codes_left: int

    @property
    def any_second_factor(self) -> bool:
        return self.totp or self.passkeys > 0


def _binding(user_id: int) -> str:
    return f"totp:{user_id}"


async def factors(session: AsyncSession, user_id: int) -> Factors:
    has_totp = await session.scalar(
        select(func.count()).where(
            TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None)
        )
    )
    keys = await session.scalar(select(func.count()).where(Passkey.user_id == user_id))
    codes = await session.scalar(
        select(func.count()).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return Factors(bool(has_totp), int(keys or 0), int(codes or 0))


# ---- TOTP ---------------------------------------------------------------------------------


async def start_totp(session: AsyncSession, box: SecretBox, user: User, now: datetime) -> str:
    """A new pending TOTP secret (replacing any earlier pending one); returns it in clear."""
    await session.execute(
        delete(TotpCredential).where(
            TotpCredential.user_id == user.id, TotpCredential.confirmed_at.is_(None)
        )
    )
    secret = totp.new_secret()
    session.add(
        TotpCredential(
            user_id=user.id,
            secret_sealed=box.seal(secret.encode(), _binding(user.id)),
            created_at=now,
            last_step=-1,
        )
    )
    await session.flush()
    return secret


async def _check_and_spend(
    session: AsyncSession, box: SecretBox, credential: TotpCredential, code: str, now: datetime
) -> bool:
    try:
        secret = box.open(credential.secret_sealed, _binding(credential.user_id)).decode()
    except DecryptionError:
        return False
    step = totp.matching_step(secret, code, now, credential.last_step)
    if step is None:
        return False
    # Compare-and-set: of two requests with the same code, only one moves last_step.
    result = await session.execute(
        update(TotpCredential)
        .where(TotpCredential.id == credential.id, TotpCredential.last_step < step)
        .values(last_step=step)
    )
    if not getattr(result, "rowcount", 0):
        return False
    credential.last_step = step
    return True


async def confirm_totp(
    session: AsyncSession, box: SecretBox, user: User, code: str, now: datetime
) -> bool:
    """Activate the pending secret if ``code`` fits it; an older TOTP is replaced."""
    pending = await session.scalar(
        select(TotpCredential)
        .where(TotpCredential.user_id == user.id, TotpCredential.confirmed_at.is_(None))
        .order_by(TotpCredential.id.desc())
        .limit(1)
    )
    if pending is None or not await _check_and_spend(session, box, pending, code, now):
        return False
    await session.execute(
        delete(TotpCredential).where(
            TotpCredential.user_id == user.id, TotpCredential.id != pending.id
        )
    )
    pending.confirmed_at = now
    await session.flush()
    return True


async def verify_totp(
    session: AsyncSession, box: SecretBox, user: User, code: str, now: datetime
) -> bool:
    """True once per code: a replayed or older code is refused (persisted replay cache)."""
    credential = await session.scalar(
        select(TotpCredential).where(
            TotpCredential.user_id == user.id, TotpCredential.confirmed_at.is_not(None)
        )
    )
    return credential is not None and await _check_and_spend(session, box, credential, code, now)


async def remove_totp(session: AsyncSession, user_id: int) -> int:
    result = await session.execute(delete(TotpCredential).where(TotpCredential.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


# ---- passkeys -----------------------------------------------------------------------------


async def passkeys_of(session: AsyncSession, user_id: int) -> list[Passkey]:
    rows = await session.scalars(
        select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)
    )
    return list(rows)


async def passkey_by_credential(
    session: AsyncSession, user_id: int, credential_id: bytes
) -> Passkey | None:
    return await session.scalar(
        select(Passkey).where(Passkey.user_id == user_id, Passkey.credential_id == credential_id)
    )


async def add_passkey(
    session: AsyncSession,
    user_id: int,
    credential_id: bytes,
    public_key: bytes,
    sign_count: int,
    name: str,
    now: datetime,
) -> Passkey:
    passkey = Passkey(
        user_id=user_id,
        credential_id=credential_id,
        public_key=public_key,
        sign_count=sign_count,
        name=name,
        created_at=now,
    )
    session.add(passkey)
    await session.flush()
    return passkey


# ---- recovery codes -----------------------------------------------------------------------


async def issue_recovery_codes(session: AsyncSession, user_id: int, now: datetime) -> list[str]:
    """Ten new codes; all earlier ones stop working. Returned once, stored as digests."""
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = recovery_codes.generate()
    for code in codes:
        stored = recovery_codes.digest(code)
        if stored is None:  # generate() only makes well-formed codes
            raise RuntimeError("generated recovery code is malformed")
        session.add(RecoveryCode(user_id=user_id, code_hash=stored, created_at=now))
    await session.flush()
    return codes


async def use_recovery_code(session: AsyncSession, user_id: int, code: str, now: datetime) -> bool:
    """Spend one code; True if it existed and was unused."""
    stored = recovery_codes.digest(code)
    if stored is None:
        return False
    result = await session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == stored,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def reset_all(session: AsyncSession, user_id: int) -> None:
    """Remove every factor (an admin's reset: the person re-enrolls through a new link)."""
    await remove_totp(session, user_id)
    await session.execute(delete(Passkey).where(Passkey.user_id == user_id))
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
