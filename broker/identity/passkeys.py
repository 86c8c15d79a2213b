"""Passkeys (WebAuthn Level 2, the ``webauthn`` package) as the preferred second factor.

Registration and authentication ceremonies, each with a fresh 32-byte challenge that the
caller keeps server-side (on the browser session) and spends once. The relying party id is
a host name from settings (browsers refuse IP addresses) and the expected origin is the
broker's public origin, so a phishing site's assertion never verifies. A passkey already
proves possession of a device; user verification (PIN or biometrics) is preferred, not
required, because the password is the knowledge factor here.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, Final

from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.options_to_json_dict import options_to_json_dict
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from broker.errors import PasskeyRejected

CHALLENGE_BYTES: Final = 32
CEREMONY_TIMEOUT_MS: Final = 120_000
# A credential JSON from a browser is a few KiB; anything far larger is not one.
MAX_CREDENTIAL_JSON: Final = 64 * 1024


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    name: str
    origin: str


@dataclass(frozen=True)
class NewPasskey:
    credential_id: bytes
    public_key: bytes
    sign_count: int


def registration_options(
    rp: RelyingParty, user_handle: bytes, username: str, display_name: str, existing: list[bytes]
) -> tuple[dict[str, Any], bytes]:
    """Options for ``navigator.credentials.create`` (JSON form) and their challenge."""
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=username,
        user_display_name=display_name or username,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        # The same authenticator twice would be one factor counted twice.
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in existing],
    )
    return options_to_json_dict(options), challenge


def _credential(credential: dict[str, Any]) -> str:
    text = json.dumps(credential)
    if len(text) > MAX_CREDENTIAL_JSON:
        raise PasskeyRejected("credential too large")
    return text


def verify_registration(
    rp: RelyingParty, credential: dict[str, Any], challenge: bytes
) -> NewPasskey:
    """Check a ``create()`` response; raises PasskeyRejected if anything is off."""
    try:
        verified = verify_registration_response(
            credential=_credential(credential),
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PasskeyRejected(str(exc)) from exc
    return NewPasskey(verified.credential_id, verified.credential_public_key, verified.sign_count)


def authentication_options(rp: RelyingParty, allowed: list[bytes]) -> tuple[dict[str, Any], bytes]:
    """Options for ``navigator.credentials.get`` limited to the user's passkeys."""
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in allowed],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json_dict(options), challenge


def credential_id_of(credential: dict[str, Any]) -> bytes | None:
    """The raw id a ``get()`` response names, or None if it names none."""
    raw = credential.get("rawId") or credential.get("id")
    if not isinstance(raw, str) or len(raw) > 2048:
        return None
    try:
        return base64url_to_bytes(raw)
    except (ValueError, TypeError):
        return None


def verify_authentication(
    rp: RelyingParty,
    credential: dict[str, Any],
    challenge: bytes,
    public_key: bytes,
    sign_count: int,
) -> int:
    """Check a ``get()`` response against the stored key; returns the new sign count.

    A sign count that went backwards means a cloned authenticator: the library refuses it.
    """
    try:
        verified = verify_authentication_response(
            credential=_credential(credential),
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PasskeyRejected(str(exc)) from exc
    return verified.new_sign_count
