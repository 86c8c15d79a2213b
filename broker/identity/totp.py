"""TOTP (RFC 6238) as a second factor: enrollment material and single-use verification.

Codes are 6 digits, 30-second steps, SHA-1 (what every authenticator app supports). One step
either side is accepted for clock drift, and a code is accepted at most once: the verifier
keeps the last accepted step and only accepts later ones (RFC 6238 §5.2), stored in the
database so the rule survives a restart. The secret is AES-GCM sealed at rest (secretbox).
"""

from __future__ import annotations

import base64
import hmac
import io
from datetime import datetime
from typing import Final

import pyotp
import qrcode
import qrcode.image.svg

STEP_S: Final = 30
DIGITS: Final = 6
DRIFT_STEPS: Final = 1  # ±1 step: a phone up to 30 s off still works (RFC 6238 §5.2)


def new_secret() -> str:
    """160 random bits in base32, RFC 4226's recommended secret length."""
    return pyotp.random_base32(32)


def step_at(when: datetime) -> int:
    return int(when.timestamp()) // STEP_S


def code_at_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).at(step * STEP_S)


def matching_step(secret: str, code: str, when: datetime, last_step: int) -> int | None:
    """The step ``code`` belongs to, if it is within ±1 step of ``when`` and after
    ``last_step`` (so a replayed or older code never matches); else None."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    now = step_at(when)
    found = None
    # Compare against every candidate (constant work) and keep the newest match.
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at_step(secret, step), code) and step > last_step:
            found = step
    return found


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI authenticator apps scan."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg_data_url(uri: str) -> str:
    """The URI as a QR code, an SVG ``data:`` URL for an <img> (no markup in the page)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    out = io.BytesIO()
    image.save(out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()
