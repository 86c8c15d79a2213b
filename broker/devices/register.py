"""The register of viewing devices: who views from which browser, as the clinic decided.

A browser registers its public key (``broker.devices.keys``) as *pending*; an admin
of the same organization approves or denies it, and may later revoke an approved one.
Only an approved device can open a viewer (MHLW.md row 4: every device in the register;
BYOD only with the clinic's approval). Decisions are final in one direction: a revoked key
never comes back (the person registers a new one and an admin decides again).

Sans-HTTP: routes call these and write the audit records; this module only reads and
changes rows.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import User, ViewingDevice
from broker.devices.keys import key_fingerprint, load_device_key
from broker.errors import DeviceRefused
from broker.identity.accounts import Role

# A person asking for approval of many browsers at once is a broken client or an attack on
# the admins' attention; a handful covers a clinic PC, a laptop and a tablet.
MAX_PENDING_PER_USER: Final = 5
MAX_LABEL_CHARS: Final = 64
MAX_USER_AGENT_CHARS: Final = 200


class DeviceState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    REVOKED = "revoked"


class Decision(StrEnum):
    """What an admin can do, and the states each is allowed from."""

    APPROVE = "approve"
    DENY = "deny"
    REVOKE = "revoke"


# An admin may change their mind about a denial (approve it after all); an approval is
# withdrawn by revoking, which is final.
_ALLOWED: Final[dict[Decision, tuple[frozenset[DeviceState], DeviceState]]] = {
    Decision.APPROVE: (frozenset({DeviceState.PENDING, DeviceState.DENIED}), DeviceState.APPROVED),
    Decision.DENY: (frozenset({DeviceState.PENDING}), DeviceState.DENIED),
    Decision.REVOKE: (frozenset({DeviceState.APPROVED}), DeviceState.REVOKED),
}


def canonical_jwk(jwk: dict[str, Any]) -> tuple[str, str]:
    """The stored form of a browser's public JWK and its fingerprint.

    Raises:
        broker.errors.DeviceKeyError: not a public P-256 key on the curve.
    """
    key = load_device_key(jwk)
    public = {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]}
    return json.dumps(public, sort_keys=True, separators=(",", ":")), key_fingerprint(key)


def clean_user_agent(user_agent: str) -> str:
    """A User-Agent header as stored: printable ASCII only, bounded."""
    printable = "".join(ch for ch in user_agent if " " <= ch <= "~")
    return printable[:MAX_USER_AGENT_CHARS]


async def register(
    session: AsyncSession,
    user: User,
    label: str,
    user_agent: str,
    jwk: dict[str, Any],
    now: datetime,
) -> tuple[ViewingDevice, bool]:
    """Register ``jwk`` for ``user`` as pending; returns (device, created).

    Registering a key this person registered before returns that device unchanged (a
    browser that lost the first answer asks again), whatever its state.

    Raises:
        broker.errors.DeviceKeyError: the key is not a public P-256 point.
        DeviceRefused: ``device_limit`` when the person already waits for too many.
    """
    public_key, fingerprint = canonical_jwk(jwk)
    existing = await session.scalar(
        select(ViewingDevice).where(
            ViewingDevice.user_id == user.id, ViewingDevice.fingerprint == fingerprint
        )
    )
    if existing is not None:
        return existing, False
    pending = await session.scalar(
        select(func.count()).where(
            ViewingDevice.user_id == user.id, ViewingDevice.state == DeviceState.PENDING.value
        )
    )
    if int(pending or 0) >= MAX_PENDING_PER_USER:
        raise DeviceRefused(
            code="device_limit", message="too many devices are waiting for approval"
        )
    device = ViewingDevice(
        org_id=user.org_id,
        user_id=user.id,
        label=label.strip()[:MAX_LABEL_CHARS],
        user_agent=clean_user_agent(user_agent),
        public_key=public_key,
        fingerprint=fingerprint,
        state=DeviceState.PENDING.value,
        created_at=now,
    )
    session.add(device)
    await session.flush()
    return device, True


async def of_user(session: AsyncSession, user_id: int) -> list[ViewingDevice]:
    """A person's own devices, newest first."""
    rows = await session.scalars(
        select(ViewingDevice)
        .where(ViewingDevice.user_id == user_id)
        .order_by(ViewingDevice.id.desc())
    )
    return list(rows)


async def by_fingerprint(
    session: AsyncSession, user_id: int, fingerprint: str
) -> ViewingDevice | None:
    """The caller's device with this key, or None (another person's or clinic's device is
    None too: nobody learns whether a key is registered elsewhere)."""
    return await session.scalar(
        select(ViewingDevice).where(
            ViewingDevice.user_id == user_id, ViewingDevice.fingerprint == fingerprint
        )
    )


async def of_org(session: AsyncSession, org_id: int) -> list[tuple[ViewingDevice, User]]:
    """Every device of the organization with its owner: pending first, newest first."""
    waiting_first = (ViewingDevice.state != DeviceState.PENDING.value).asc()
    rows = await session.execute(
        select(ViewingDevice, User)
        .join(User, User.id == ViewingDevice.user_id)
        .where(ViewingDevice.org_id == org_id)
        .order_by(waiting_first, ViewingDevice.id.desc())
    )
    return [(device, user) for device, user in rows]


async def in_org(session: AsyncSession, org_id: int, device_id: int) -> ViewingDevice | None:
    """Device ``device_id`` if it belongs to ``org_id`` (another clinic's is None)."""
    return await session.scalar(
        select(ViewingDevice).where(ViewingDevice.id == device_id, ViewingDevice.org_id == org_id)
    )


async def other_enabled_admins(session: AsyncSession, org_id: int, user_id: int) -> int:
    """Enabled admins of the organization besides ``user_id`` who could decide instead
    (enrolled: they have a password, so they can sign in)."""
    found = await session.scalar(
        select(func.count()).where(
            User.org_id == org_id,
            User.role == Role.ADMIN.value,
            User.disabled_at.is_(None),
            User.password_hash.is_not(None),
            User.id != user_id,
        )
    )
    return int(found or 0)


def decide(device: ViewingDevice, decision: Decision, admin_id: int, now: datetime) -> None:
    """Apply an admin's decision.

    Raises:
        DeviceRefused: ``device_state`` when the decision does not fit the device's state.
    """
    allowed_from, result = _ALLOWED[decision]
    if DeviceState(device.state) not in allowed_from:
        raise DeviceRefused(
            code="device_state",
            message=f"a {device.state} device cannot be given '{decision.value}'",
        )
    device.state = result.value
    device.decided_by = admin_id
    device.decided_at = now


def refusal_code(device: ViewingDevice | None) -> str | None:
    """Why this device cannot open a viewer now (an API error code), or None if it can."""
    if device is None:
        return "device_unknown"
    if device.state != DeviceState.APPROVED.value:
        return f"device_{device.state}"
    return None
