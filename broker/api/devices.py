"""A person's viewing devices: register this browser's key, see what the admins decided,
and prove the device before a viewer session (the challenge it signs).

Every refusal of a viewer session for a device reason is audited (``session_refused``) and
answered with a stable code the viewer translates: ``device_unknown`` (404, also for another
person's or clinic's device), ``device_pending``, ``device_denied``, ``device_revoked``,
``device_challenge`` (unknown, spent, expired, or issued for another session, device or
host) and ``device_signature`` (not made by this device's key) (403).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Annotated, NoReturn

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from broker.alerts import rules as alert_rules
from broker.api import deps
from broker.api.deps import ActiveCaller, Caller, Db, Text
from broker.audit.record import Event, Outcome, record
from broker.db.models import ViewingDevice
from broker.devices import challenges as device_challenges
from broker.devices import register as devices
from broker.devices.keys import load_device_key, verify_challenge
from broker.errors import (
    ApiError,
    BadRequest,
    Conflict,
    DeviceKeyError,
    DeviceRefused,
    Forbidden,
    NotFound,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["devices"])

# The signaling protocol's host id rule (broker/protocol), checked here already.
HostId = Annotated[Text, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Fingerprint = Annotated[
    str,
    Field(
        min_length=64,
        max_length=64,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the device key's SubjectPublicKeyInfo, lowercase hex",
    ),
]
# 32 random bytes, unpadded base64url.
ChallengeText = Annotated[str, Field(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]+$")]
# WebCrypto's ECDSA P-256 signature is 64 bytes (86 characters); anything else is refused
# by the signature check, not the schema, so it is audited as a bad signature.
SignatureText = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")]
KeyPart = Annotated[Text, Field(max_length=64)]


class PublicJwk(BaseModel):
    """A WebCrypto-exported EC public key. ``d`` is accepted by the schema only so that a
    client sending private material is refused (and audited) like any other bad key."""

    model_config = ConfigDict(extra="forbid")
    kty: Annotated[Text, Field(max_length=8)]
    crv: Annotated[Text, Field(max_length=16)]
    x: KeyPart
    y: KeyPart
    ext: bool | None = None
    key_ops: list[Annotated[Text, Field(max_length=16)]] | None = Field(None, max_length=4)
    d: KeyPart | None = None


class DeviceRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: Text = Field(min_length=1, max_length=devices.MAX_LABEL_CHARS, pattern=r"\S")
    public_key: PublicJwk


class OwnDevice(BaseModel):
    id: int
    label: str
    state: str = Field(description="pending, approved, denied or revoked")
    fingerprint: str
    created_at: datetime
    decided_at: datetime | None
    last_used_at: datetime | None


class OwnDevices(BaseModel):
    user_id: int = Field(description="the caller: a browser keeps one device key per person")
    devices: list[OwnDevice]


class ChallengeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host_id: HostId
    device: Fingerprint


class ChallengeIssued(BaseModel):
    challenge: str = Field(description="base64url; sign challenge_message(host_id, challenge)")
    expires_in: int = Field(description="seconds")


def own_view(device: ViewingDevice) -> OwnDevice:
    return OwnDevice(
        id=device.id,
        label=device.label,
        state=device.state,
        fingerprint=device.fingerprint,
        created_at=device.created_at,
        decided_at=device.decided_at,
        last_used_at=device.last_used_at,
    )


@router.get("/devices")
async def my_devices(db: Db, caller: ActiveCaller) -> OwnDevices:
    """The caller's own viewing devices and what the admins decided about each."""
    mine = await devices.of_user(db, caller.user.id)
    return OwnDevices(user_id=caller.user.id, devices=[own_view(d) for d in mine])


@router.post("/devices", status_code=201)
async def register_device(
    body: DeviceRegistration, request: Request, response: Response, db: Db, caller: ActiveCaller
) -> OwnDevice:
    """Register this browser's public key as a viewing device, pending an admin's approval
    (201); the same key registered again answers its device as it is (200)."""
    now = deps.now_of(request)
    user_agent = request.headers.get("user-agent", "")
    try:
        jwk = body.public_key.model_dump(exclude_none=True)
        device, created = await devices.register(db, caller.user, body.label, user_agent, jwk, now)
    except (DeviceKeyError, DeviceRefused) as exc:
        code = exc.code if isinstance(exc, DeviceRefused) else "device_key_invalid"
        record(
            db, caller.actor, Event.DEVICE_REGISTERED, Outcome.DENIED, now, detail=f"{code}: {exc}"
        )
        await db.commit()
        log.warning("device registration refused for %s: %s", caller.user.username, exc)
        if isinstance(exc, DeviceRefused):
            raise Conflict(str(exc), code=code) from exc
        raise BadRequest(f"the device key is refused: {exc}", code=code) from exc
    if created:
        record(
            db,
            caller.actor,
            Event.DEVICE_REGISTERED,
            Outcome.SUCCESS,
            now,
            target_user_id=caller.user.id,
            detail=f"device={device.id} label={device.label} fingerprint={device.fingerprint[:16]}",
        )
        if device.state == "pending":
            await alert_rules.device_pending(db, caller.user, now, device=device.label)
        await db.commit()
    else:
        response.status_code = 200
    return own_view(device)


async def refuse_session(
    db: Db, caller: Caller, now: datetime, error: ApiError, detail: str
) -> NoReturn:
    """Audit a viewer session refused for a device reason, then refuse the request."""
    record(
        db,
        caller.actor,
        Event.SESSION_REFUSED,
        Outcome.DENIED,
        now,
        detail=f"{error.code} {detail}",
    )
    await db.commit()
    log.warning("viewer refused for %s: %s %s", caller.user.username, error.code, detail)
    raise error


async def usable_device(
    db: Db, caller: Caller, fingerprint: str, host_id: str, now: datetime
) -> ViewingDevice:
    """The caller's approved device with this fingerprint; anything else is refused."""
    device = await devices.by_fingerprint(db, caller.user.id, fingerprint)
    where = f"host={host_id} fingerprint={fingerprint[:16]}"
    if device is None:
        await refuse_session(
            db, caller, now, NotFound("no such device", code="device_unknown"), where
        )
    code = devices.refusal_code(device)
    if code is not None:
        error = Forbidden(f"this device is {device.state}", code=code)
        await refuse_session(db, caller, now, error, f"{where} device={device.id}")
    return device


@router.post("/viewer-challenges", status_code=201)
async def viewer_challenge(
    body: ChallengeRequest, request: Request, db: Db, caller: ActiveCaller
) -> ChallengeIssued:
    """A fresh challenge (single use, 30 s) for the caller's approved device to sign before
    asking for a viewer ticket on ``host_id``."""
    now = deps.now_of(request)
    device = await usable_device(db, caller, body.device, body.host_id, now)
    challenge = await device_challenges.issue(db, caller.record, device, body.host_id, now)
    await db.commit()
    return ChallengeIssued(challenge=challenge, expires_in=device_challenges.CHALLENGE_TTL_S)


async def proven_device(
    db: Db,
    caller: Caller,
    host_id: str,
    fingerprint: str,
    challenge: str,
    signature: str,
    now: datetime,
) -> ViewingDevice:
    """Check a device's answer to its challenge before a ticket is issued: an approved
    device of the caller, a live challenge of this session for this device and host, and
    a signature by the device's key. Refusals are audited."""
    device = await usable_device(db, caller, fingerprint, host_id, now)
    where = f"host={host_id} device={device.id}"
    spent = await device_challenges.spend(db, caller.record, device, host_id, challenge, now)
    if spent is None:
        await refuse_session(
            db,
            caller,
            now,
            Forbidden("the challenge is unknown, spent or expired", code="device_challenge"),
            where,
        )
    raw_signature = device_challenges.from_b64url(signature) or b""
    try:
        key = load_device_key(_stored_jwk(device))
        verify_challenge(
            key, device_challenges.challenge_message(host_id, challenge), raw_signature
        )
    except DeviceKeyError as exc:
        await refuse_session(
            db,
            caller,
            now,
            Forbidden("the device signature does not verify", code="device_signature"),
            f"{where} ({exc})",
        )
    device.last_used_at = now
    return device


def _stored_jwk(device: ViewingDevice) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(device.public_key)
    return loaded
