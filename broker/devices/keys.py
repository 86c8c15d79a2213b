"""Viewing-device keys: a browser's non-extractable P-256 key and its signed challenges.

On first use the browser makes an ECDSA P-256 key pair with WebCrypto (private key
non-extractable, kept in IndexedDB) and registers the public key as a JWK. Every viewer
session then needs a fresh broker challenge signed by that key, so a stolen session cookie
used from another browser gets nothing (MHLW.md rows 4 and 15).

Sans-I/O: challenge storage and single use live with the caller; this module parses keys,
makes challenges and verifies signatures.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from broker.errors import DeviceKeyError

CHALLENGE_BYTES: Final = 32
_JWK_FIELDS: Final = frozenset({"kty", "crv", "x", "y", "ext", "key_ops"})
_P256_COORD_BYTES: Final = 32


def _b64url(text: object, what: str) -> bytes:
    if not isinstance(text, str) or len(text) > 64:
        raise DeviceKeyError(f"{what} must be a short base64url string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise DeviceKeyError(f"{what} is not base64url") from exc


def load_device_key(jwk: Any) -> ec.EllipticCurvePublicKey:
    """The public key of a WebCrypto-exported P-256 JWK.

    Raises:
        DeviceKeyError: not a JWK object, another key type or curve, unknown fields, private
            material (``d``), or a point that is not on P-256.
    """
    if not isinstance(jwk, dict) or not set(jwk) <= _JWK_FIELDS:
        raise DeviceKeyError("the device key must be a public P-256 JWK and nothing more")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise DeviceKeyError("the device key must be an EC key on P-256")
    x, y = _b64url(jwk.get("x"), "x"), _b64url(jwk.get("y"), "y")
    if len(x) != _P256_COORD_BYTES or len(y) != _P256_COORD_BYTES:
        raise DeviceKeyError("P-256 coordinates are 32 bytes each")
    try:
        # from_encoded_point checks that the point lies on the curve.
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    except ValueError as exc:
        raise DeviceKeyError("the device key is not a valid P-256 point") from exc


def key_fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 of the key's SubjectPublicKeyInfo, hex: the device's stable identifier."""
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def new_challenge() -> bytes:
    """A fresh random challenge; the caller stores it for single use and a short lifetime."""
    return secrets.token_bytes(CHALLENGE_BYTES)


def verify_challenge(key: ec.EllipticCurvePublicKey, challenge: bytes, signature: bytes) -> None:
    """Check a WebCrypto ECDSA-SHA256 signature (IEEE P1363 r||s, 64 bytes) of ``challenge``.

    Raises:
        DeviceKeyError: the signature is malformed or was not made by this key over this
            challenge.
    """
    if len(signature) != 2 * _P256_COORD_BYTES:
        raise DeviceKeyError("a P-256 signature from WebCrypto is 64 bytes")
    r = int.from_bytes(signature[:_P256_COORD_BYTES], "big")
    s = int.from_bytes(signature[_P256_COORD_BYTES:], "big")
    try:
        key.verify(encode_dss_signature(r, s), challenge, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as exc:
        raise DeviceKeyError("the challenge signature does not verify") from exc
