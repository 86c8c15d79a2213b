"""Viewing-device keys: JWK parsing and WebCrypto challenge signatures."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from broker.devices.keys import key_fingerprint, load_device_key, new_challenge, verify_challenge
from broker.errors import DeviceKeyError

pytestmark = pytest.mark.unit


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_of(key: ec.EllipticCurvePrivateKey) -> dict[str, object]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "ext": True,
        "key_ops": ["verify"],
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def webcrypto_sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """What crypto.subtle.sign({name: 'ECDSA', hash: 'SHA-256'}) returns: raw r||s."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_a_signed_challenge_verifies() -> None:
    """The browser's signature over the broker's challenge verifies with its registered key."""
    browser = ec.generate_private_key(ec.SECP256R1())
    key = load_device_key(jwk_of(browser))
    challenge = new_challenge()
    verify_challenge(key, challenge, webcrypto_sign(browser, challenge))
    assert key_fingerprint(key) == key_fingerprint(load_device_key(jwk_of(browser)))


def test_a_signature_by_another_key_is_refused() -> None:
    """A cookie thief's browser signs with its own key: refused."""
    registered = load_device_key(jwk_of(ec.generate_private_key(ec.SECP256R1())))
    thief = ec.generate_private_key(ec.SECP256R1())
    challenge = new_challenge()
    with pytest.raises(DeviceKeyError, match="does not verify"):
        verify_challenge(registered, challenge, webcrypto_sign(thief, challenge))


def test_a_signature_of_an_old_challenge_is_refused() -> None:
    """A replayed signature over a previous challenge does not verify for a new one."""
    browser = ec.generate_private_key(ec.SECP256R1())
    key = load_device_key(jwk_of(browser))
    old = webcrypto_sign(browser, new_challenge())
    with pytest.raises(DeviceKeyError):
        verify_challenge(key, new_challenge(), old)


@pytest.mark.parametrize("signature", [b"", b"\x00" * 63, b"\x00" * 72])
def test_malformed_signatures_are_refused(signature: bytes) -> None:
    """Signatures that are not 64-byte r||s are refused, as is an all-zero one."""
    key = load_device_key(jwk_of(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(DeviceKeyError):
        verify_challenge(key, new_challenge(), signature)
    with pytest.raises(DeviceKeyError):
        verify_challenge(key, new_challenge(), b"\x00" * 64)


def test_a_point_off_the_curve_is_refused() -> None:
    """A JWK whose (x, y) is not on P-256 is refused at registration."""
    jwk = jwk_of(ec.generate_private_key(ec.SECP256R1()))
    y = base64.urlsafe_b64decode(str(jwk["y"]) + "==")
    jwk["y"] = b64url((int.from_bytes(y, "big") ^ 1).to_bytes(32, "big"))
    with pytest.raises(DeviceKeyError, match="not a valid P-256 point"):
        load_device_key(jwk)


@pytest.mark.parametrize(
    "change",
    [
        {"crv": "P-384"},
        {"kty": "RSA"},
        {"d": "c2VjcmV0"},
        {"x": "short"},
        {"x": "!!not-base64!!"},
        {"x": 5},
        {"extra": 1},
    ],
    ids=["curve", "kty", "private", "short-x", "bad-b64", "not-string", "unknown-field"],
)
def test_wrong_or_private_jwks_are_refused(change: dict[str, object]) -> None:
    """Other curves or key types, private material, bad coordinates, extra fields: refused."""
    jwk = {**jwk_of(ec.generate_private_key(ec.SECP256R1())), **change}
    with pytest.raises(DeviceKeyError):
        load_device_key(jwk)


def test_non_objects_are_refused() -> None:
    """A JWK must be a JSON object."""
    for bad in (None, "EC", [1, 2]):
        with pytest.raises(DeviceKeyError):
            load_device_key(bad)
