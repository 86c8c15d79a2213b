"""An organization's own limits for remote sessions (the console's settings page).

Without a stored row the broker's defaults (``MAMORI_REMOTE_*``) apply, so a new clinic is
safe before anyone opens the settings page. Values an admin may choose are bounded here:
the guideline asks for short idle times (MHLW.md row 8), so the console cannot set an idle
limit over an hour or switch the watermark's and the policy's protections off silently —
every change is audited with its old and new value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

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
    block_local_input: bool = False
    end_on_violation: bool = True
    # mamori_protocol.text_input.TextEntry: whether the viewer may send its own text.
    text_entry: str = TextEntry.HOST_IME.value
    # Reach (broker/turn, mamori_protocol/candidates.py): "relay" hides each end's
    # addresses from the other; lan_candidates False refuses remote candidates in private
    # LAN ranges at the broker and the agent.
    ice_policy: str = "all"
    lan_candidates: bool = True


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
    """The policy a new remote session of ``org_id`` runs under."""
    row = await session.get(OrgPolicy, org_id)
    if row is None:
        return defaults
    return RemotePolicy(
        idle_s=row.idle_s,
        max_s=row.max_s,
        warn_s=row.warn_s,
        watermark=row.watermark,
        block_local_input=row.block_local_input,
        end_on_violation=row.end_on_violation,
        text_entry=row.text_entry,
        ice_policy=row.ice_policy,
        lan_candidates=row.lan_candidates,
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
    changes: dict[str, int | bool | str],
    by_user: int,
    now: datetime,
) -> list[str]:
    """Apply ``changes`` to ``org_id``'s policy; returns ``name: old->new`` for each value
    that changed (the caller audits them). Raises SettingRefused for a value it may not set."""
    before = await policy_for(session, org_id, defaults)
    unknown = set(changes) - set(asdict(before))
    if unknown:
        raise SettingRefused(f"unknown settings: {sorted(unknown)}", code="setting_unknown")
    after = replace(before, **changes)  # type: ignore[arg-type]  # names checked above
    check(after)
    old, new = asdict(before), asdict(after)
    changed = [f"{k}: {old[k]}->{new[k]}" for k in old if old[k] != new[k]]
    row = await session.get(OrgPolicy, org_id)
    if row is None:
        row = OrgPolicy(org_id=org_id, updated_at=now)
        session.add(row)
    for name, value in new.items():
        setattr(row, name, value)
    row.updated_by = by_user
    row.updated_at = now
    await session.flush()
    return changed
