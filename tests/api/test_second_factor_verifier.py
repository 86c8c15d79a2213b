"""One second-factor verifier (identity/second_factor.py) for sign-in and step-up (issue 12):
the two routes once each carried their own copy of the TOTP, recovery-code and passkey
checks, so a fix could reach one and miss the other. The routes must not check factors
themselves; the verifier's rules hold across both (a code is spent once for both, a passkey
challenge asked for one purpose cannot answer the other). Real broker and SQLite."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from broker.db.models import BrowserSession, User
from broker.identity import mfa, second_factor, sessions
from broker.identity.passkeys import RelyingParty
from broker.identity.second_factor import Method, Verifier
from devkit.broker import RunningBroker
from devkit.identity import Person

pytestmark = pytest.mark.integration

ROUTES = [Path("broker/api/auth.py"), Path("broker/api/step_up.py")]
# What only the verifier may call.
FACTOR_CHECKS = {"verify_totp", "use_recovery_code", "verify_authentication", "take_challenge"}


def test_sign_in_and_step_up_check_factors_only_through_the_verifier() -> None:
    for path in ROUTES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        called = {
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        assert not called & FACTOR_CHECKS, (
            f"{path} checks a factor itself: {called & FACTOR_CHECKS}"
        )
        assert {"check_code", "check_passkey", "passkey_options"} <= called, path


async def test_the_verifier_spends_codes_and_keeps_challenges_to_their_purpose(
    broker: RunningBroker, doctor: Person
) -> None:
    now = broker.clock.now()
    verifier = Verifier(
        broker.app.state.keys.totp_box, RelyingParty("localhost", "Mamori", "https://x")
    )
    code = doctor.next_code(broker)
    async with broker.db.session() as s:
        user = await s.get(User, doctor.user_id)
        assert user is not None
        assert await second_factor.check_code(s, verifier, user, Method.TOTP, code, now)
        # The same code a second time (at step-up, say) is refused: each code works once.
        assert not await second_factor.check_code(s, verifier, user, Method.TOTP, code, now)
        assert not await second_factor.check_code(s, verifier, user, Method.TOTP, "12 34 5x", now)
        recovery = (await mfa.issue_recovery_codes(s, user.id, now))[0]
        assert await second_factor.check_code(s, verifier, user, Method.RECOVERY, recovery, now)
        assert not await second_factor.check_code(s, verifier, user, Method.RECOVERY, recovery, now)
        with pytest.raises(ValueError, match="not a code"):
            await second_factor.check_code(s, verifier, user, Method.PASSKEY, "x", now)
        # A challenge kept for sign-in cannot answer a step-up (and is spent by trying).
        record = BrowserSession(user_id=user.id, org_id=user.org_id)
        sessions.keep_challenge(record, b"c" * 32, "login", now)
        credential = {"id": "AAAA", "rawId": "AAAA"}
        assert not await second_factor.check_passkey(
            s, verifier, record, user, credential, "step_up", now
        )
        assert record.challenge is None
