"""Changing a clinic's settings the way its admin does: through the settings page's API."""

from __future__ import annotations

from devkit.broker import RunningBroker
from devkit.identity import Org, make_person, signed_in


async def set_clinic_settings(broker: RunningBroker, org: Org, **changes: object) -> None:
    """An admin of ``org`` (made for the purpose) saves ``changes`` on the settings page."""
    admin = await make_person(broker, org, "admin")
    async with signed_in(broker, admin) as boss:
        response = await boss.http.put("/api/admin/settings", json=changes, headers=boss.headers)
        if response.status_code != 200:
            raise AssertionError(f"settings refused: {response.status_code} {response.text}")
