"""An organization's own limits for remote sessions (the console's settings page).

Without a stored row the broker's defaults (``MAMORI_REMOTE_*``) apply, so a new clinic is
safe before anyone opens the settings page. Values an admin may choose are bounded here:
the guideline asks for short idle times (MHLW.md row 8), so the console cannot set an idle
limit over an hour or switch the watermark's and the policy's protections off silently —
every change is audited with its old and new value.

The privacy screen is a choice of three (``broker.access.privacy_screen``); its "outside
opening hours" reads the clinic's opening hours, which every clinic has stored
(``broker.access.opening_hours``) and which travel with the policy so the relay decides at
session start without asking the database.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from broker.access import opening_hours
from broker.access.opening_hours import DEFAULT_HOURS, OpeningWindow
from broker.access.privacy_screen import PrivacyScreen
from broker.db.models import OrgPolicy
from broker.errors import SettingRefused
from mamori_protocol.candidates import ICE_POLICIES
from mamori_protocol.text_input import TextEntry


@dataclass(frozen=True)
class RemotePolicy:
    """Limits and protections of every remote session (broker settings; MHLW.md rows 3, 8)."""

    idle_s: int = 10 * 60
    max_s: int = 8 * 3600
    warn_s: int = 5 * 60
    watermark: bool = True
    # broker.access.privacy_screen.PrivacyScreen: off, outside_hours or always.
    privacy_screen: str = PrivacyScreen.OUTSIDE_HOURS.value
    end_on_violation: bool = True
    # mamori_protocol.text_input.TextEntry: whether the viewer may send its own text.
    text_entry: str = TextEntry.HOST_IME.value
    # Reach (broker/turn, mamori_protocol/candidates.py): "relay" hides each end's
    # addresses from the other; lan_candidates False refuses remote candidates in private
    # LAN ranges at the broker and the agent.
    ice_policy: str = "all"
    lan_candidates: bool = True
    # The clinic's opening hours (policy_for reads them; not a column of org_policies).
    opening_hours: tuple[OpeningWindow, ...] = DEFAULT_HOURS


# The values kept in org_policies (opening_hours has its own table).
_STORED: Final = (
    "idle_s",
    "max_s",
    "warn_s",
    "watermark",
    "privacy_screen",
    "end_on_violation",
    "text_entry",
    "ice_policy",
    "lan_candidates",
)


@dataclass(frozen=True)
class Bounds:
    low: int
    high: int


# What the console accepts (seconds). The broker's own defaults may lie outside (tests use
# seconds-long limits through the environment).
LIMITS: Final = {
    "idle_s": Bounds(60, 3600),
    "max_s": Bounds(600, 12 * 3600),
    "warn_s": Bounds(0, 30 * 60),
}


async def policy_for(session: AsyncSession, org_id: int, defaults: RemotePolicy) -> RemotePolicy:
    """The policy a new remote session of ``org_id`` runs under, with its opening hours."""
    hours = await opening_hours.hours_of(session, org_id)
    row = await session.get(OrgPolicy, org_id)
    if row is None:
        return replace(defaults, opening_hours=hours)
    return RemotePolicy(
        **{name: getattr(row, name) for name in _STORED},
        opening_hours=hours,
    )


def check(policy: RemotePolicy) -> None:
    """Raise SettingRefused unless ``policy`` is one the console may set."""
    for name, bounds in LIMITS.items():
        value = getattr(policy, name)
        if not bounds.low <= value <= bounds.high:
            raise SettingRefused(
                f"{name} must be {bounds.low}..{bounds.high}", code="setting_out_of_range"
            )
    if policy.text_entry not in {mode.value for mode in TextEntry}:
        raise SettingRefused("unknown text entry", code="setting_unknown")
    if policy.privacy_screen not in {mode.value for mode in PrivacyScreen}:
        raise SettingRefused("unknown privacy screen mode", code="setting_unknown")
    if len(policy.opening_hours) > opening_hours.MAX_WINDOWS:
        raise SettingRefused(
            f"at most {opening_hours.MAX_WINDOWS} opening windows", code="setting_out_of_range"
        )
    if policy.ice_policy not in ICE_POLICIES:
        raise SettingRefused("ice_policy must be all or relay", code="setting_out_of_range")
    if policy.warn_s >= policy.max_s:
        raise SettingRefused(
            "the warning must come before the maximum", code="setting_warn_after_max"
        )


async def change(
    session: AsyncSession,
    org_id: int,
    defaults: RemotePolicy,
    changes: dict[str, int | bool | str | tuple[OpeningWindow, ...]],
    by_user: int,
    now: datetime,
) -> list[str]:
    """Apply ``changes`` to ``org_id``'s policy (``opening_hours`` replaces them all);
    returns ``name: old->new`` for each value that changed (the caller audits them). Raises
    SettingRefused for a value it may not set."""
    before = await policy_for(session, org_id, defaults)
    unknown = set(changes) - set(asdict(before))
    if unknown:
        raise SettingRefused(f"unknown settings: {sorted(unknown)}", code="setting_unknown")
    after = replace(before, **changes)  # type: ignore[arg-type]  # names checked above
    check(after)
    old, new = asdict(before), asdict(after)
    changed = [f"{k}: {old[k]}->{new[k]}" for k in _STORED if old[k] != new[k]]
    if after.opening_hours != before.opening_hours:
        changed.append(
            f"opening_hours: {opening_hours.describe(before.opening_hours)}"
            f"->{opening_hours.describe(after.opening_hours)}"
        )
        await opening_hours.store(session, org_id, after.opening_hours)
    row = await session.get(OrgPolicy, org_id)
    if row is None:
        row = OrgPolicy(org_id=org_id, updated_at=now)
        session.add(row)
    for name in _STORED:
        setattr(row, name, new[name])
    row.updated_by = by_user
    row.updated_at = now
    await session.flush()
    return changed
