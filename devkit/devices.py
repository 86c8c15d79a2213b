"""Viewing devices for tests: a Python-side P-256 key that answers broker challenges the way
a browser's WebCrypto key does, registered through the API and approved by an admin."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from broker.devices.challenges import challenge_message
from broker.devices.keys import key_fingerprint
from devkit.broker import RunningBroker

if TYPE_CHECKING:
    from devkit.identity import Person, SignedIn


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class DeviceKey:
    """A browser's device key as the broker sees it: a public JWK, and signatures in
    WebCrypto's IEEE P1363 form (r || s, 64 bytes)."""

    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    device_id: int | None = None

    @property
    def jwk(self) -> dict[str, object]:
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
            "ext": True,
            "key_ops": ["verify"],
        }

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.private.public_key())

    def sign(self, host_id: str, challenge: str) -> str:
        """What the browser sends: its signature over challenge_message, base64url."""
        der = self.private.sign(challenge_message(host_id, challenge), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


async def register(user: SignedIn, key: DeviceKey, label: str = "テスト端末") -> httpx.Response:
    """Register ``key`` for ``user`` through the API (pending until an admin decides)."""
    response = await user.post("/api/devices", json={"label": label, "public_key": key.jwk})
    if response.status_code in (200, 201):
        key.device_id = int(response.json()["id"])
    return response


async def approve_as_admin(broker: RunningBroker, org_id: int, device_id: int) -> None:
    """An admin of ``org_id`` (made for the purpose) approves the device through the API."""
    from devkit.identity import Org, make_person, signed_in

    admin = await make_person(broker, Org(org_id, ""), "admin")
    async with signed_in(broker, admin) as boss:
        response = await boss.post(f"/api/admin/devices/{device_id}/approve")
        if response.status_code != 200:
            raise AssertionError(f"approval: {response.status_code} {response.text}")


async def approved_device(broker: RunningBroker, user: SignedIn) -> DeviceKey:
    """A new device key of ``user``, registered and approved by an admin."""
    key = DeviceKey()
    response = await register(user, key, f"テスト端末-{secrets.token_hex(2)}")
    if response.status_code != 201 or key.device_id is None:
        raise AssertionError(f"registration: {response.status_code} {response.text}")
    await approve_as_admin(broker, user.person.org_id, key.device_id)
    return key


async def challenge(user: SignedIn, key: DeviceKey, host_id: str) -> httpx.Response:
    return await user.post(
        "/api/viewer-challenges", json={"host_id": host_id, "device": key.fingerprint}
    )


async def proof(user: SignedIn, key: DeviceKey, host_id: str) -> dict[str, str]:
    """A ticket request body: a fresh challenge for ``host_id`` signed by ``key``."""
    response = await challenge(user, key, host_id)
    if response.status_code != 201:
        raise AssertionError(f"challenge: {response.status_code} {response.text}")
    issued = str(response.json()["challenge"])
    return {
        "host_id": host_id,
        "device": key.fingerprint,
        "challenge": issued,
        "signature": key.sign(host_id, issued),
    }


async def approve_pending_of(broker: RunningBroker, person: Person) -> list[int]:
    """An admin of ``person``'s clinic (made for the purpose) approves every device of
    ``person`` that waits for approval, through the API; returns their ids."""
    from devkit.identity import Org, make_person, signed_in

    admin = await make_person(broker, Org(person.org_id, ""), "admin")
    async with signed_in(broker, admin) as boss:
        listed = (await boss.http.get("/api/admin/devices")).json()["devices"]
        waiting = [
            int(d["id"])
            for d in listed
            if d["owner_id"] == person.user_id and d["state"] == "pending"
        ]
        for device_id in waiting:
            response = await boss.post(f"/api/admin/devices/{device_id}/approve")
            if response.status_code != 200:
                raise AssertionError(f"approval: {response.status_code} {response.text}")
    return waiting
