"""The organization's time zone: which zoneinfo names an admin may choose, and the one
function the rest of the broker asks for a clinic's zone (``org_time_zone``).

Grants' weekly windows are wall-clock times of the clinic ("weekdays 18:00-23:00"), so they
are kept as local times plus this zone and evaluated against UTC instants when a session is
asked for (``time_windows.decide``); every instant itself is stored in UTC. A zone is one of
the IANA names zoneinfo knows on this machine, nothing else: a name that does not load would
make every windowed grant fail (closed, but for the wrong reason).

Usual hours, the times alerts and exports show, and the console's times are read in the
same zone (an admin sets it under 時間帯: ``GET/PUT /api/admin/time-zone``).
"""

from __future__ import annotations

import functools
import re
from typing import Final
from zoneinfo import available_timezones

from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import DEFAULT_TIME_ZONE, Organization

__all__ = ["DEFAULT_TIME_ZONE", "MAX_ZONE_CHARS", "choices", "is_zone", "org_time_zone", "zone_of"]

MAX_ZONE_CHARS: Final = 64
# IANA names: letters, digits, "_", "-", "+", and "/" between parts (Etc/GMT+9).
_ZONE_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}")


@functools.cache
def choices() -> tuple[str, ...]:
    """Every zone name zoneinfo can load here, sorted (about 600; read once)."""
    return tuple(sorted(name for name in available_timezones() if _ZONE_NAME.fullmatch(name)))


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(choices())


def is_zone(name: str) -> bool:
    """Whether ``name`` is one of ``choices()`` (checked against the list, never by opening
    a path built from input)."""
    return len(name) <= MAX_ZONE_CHARS and name in _known()


def zone_of(org: Organization | None) -> str:
    """The time zone of a clinic already loaded (IANA name), as its admin set it.

    ``DEFAULT_TIME_ZONE`` for no organization (the broker's own records) or a stored name
    this machine cannot load (a zoneinfo update removed it): showing a time in the default
    zone beats failing to show it. Grants' windows do not come here: they fail closed on
    such a name (``access.decision``).
    """
    if org is None or not is_zone(org.time_zone):
        return DEFAULT_TIME_ZONE
    return org.time_zone


async def org_time_zone(session: AsyncSession, org_id: int) -> str:
    """The clinic's time zone (IANA name): ``zone_of`` its organization."""
    return zone_of(await session.get(Organization, org_id))
