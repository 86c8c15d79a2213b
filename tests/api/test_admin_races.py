"""Two admins demoting each other at the same moment (issue 12, security 7): the clinic
keeps an enabled admin. Real concurrent requests against a real broker, SQLite and
PostgreSQL, several rounds."""

from __future__ import annotations

import asyncio

import pytest

from broker.identity import accounts
from devkit.broker import RunningBroker
from devkit.identity import make_org, make_person, signed_in

pytestmark = pytest.mark.integration

ROUNDS = 4


async def test_two_admins_demoting_each_other_leave_one_admin(any_broker: RunningBroker) -> None:
    """Each round, a clinic's only two admins demote (or disable) each other at once:
    exactly one change goes through; the other is refused (last_admin, or the caller was
    already demoted and signed out by the first)."""
    for round_ in range(ROUNDS):
        clinic = await make_org(any_broker, f"race-{round_}")
        a = await make_person(any_broker, clinic, "admin")
        b = await make_person(any_broker, clinic, "admin")
        change = {"role": "doctor"} if round_ % 2 == 0 else {"disabled": True}
        async with signed_in(any_broker, a) as admin_a, signed_in(any_broker, b) as admin_b:
            answers = await asyncio.gather(
                admin_a.http.patch(
                    f"/api/admin/users/{b.user_id}", json=change, headers=admin_a.headers
                ),
                admin_b.http.patch(
                    f"/api/admin/users/{a.user_id}", json=change, headers=admin_b.headers
                ),
            )
        codes = sorted(r.status_code for r in answers)
        assert codes[0] == 200, [r.text for r in answers]
        assert codes[1] in {401, 403, 409}, [r.text for r in answers]
        async with any_broker.db.session() as s:
            assert await accounts.count_active_admins(s, clinic.id) == 1
