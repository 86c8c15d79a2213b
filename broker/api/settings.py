"""The console's settings page: an organization's limits for remote sessions.

Reading shows the values in force and the broker's defaults beside them; every change is
audited with the old and the new value (MHLW.md row 8; issue 7 "admin setting changes").
The privacy screen is off, outside the clinic's opening hours or always; the opening hours
(weekly windows in the clinic's zone, minutes from local midnight) are edited here too and
replaced as a whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from broker.access import opening_hours
from broker.access import remote_policy as org_policy
from broker.access.grants import MINUTES_PER_DAY
from broker.access.opening_hours import OpeningWindow
from broker.access.remote_policy import RemotePolicy
from broker.access.zones import org_time_zone
from broker.api import deps
from broker.api.deps import AdminCaller, Db
from broker.audit.record import Event, Outcome, record
from broker.db.models import OrgPolicy
from broker.errors import BadRequest, SettingRefused
from broker.signaling.relay import Relay

# mamori_protocol.text_input.TextEntry's values (a test keeps the two equal).
TextEntryValue = Literal["host_ime", "viewer_text", "both"]
# broker.access.privacy_screen.PrivacyScreen's values (a test keeps the two equal).
PrivacyScreenValue = Literal["off", "outside_hours", "always"]

router = APIRouter(prefix="/api/admin/settings", tags=["admin"])


class HoursWindow(BaseModel):
    """One window of the opening hours in the clinic's local time, within one day."""

    model_config = ConfigDict(extra="forbid")
    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        min_length=1, max_length=7, description="0 = Monday ... 6 = Sunday"
    )
    start_minute: int = Field(ge=0, le=MINUTES_PER_DAY, description="from local midnight")
    end_minute: int = Field(ge=0, le=MINUTES_PER_DAY, description="after the start; 1440 = 24:00")

    @field_validator("end_minute")
    @classmethod
    def _after_the_start(cls, end: int, info: ValidationInfo) -> int:
        # On the field, so the refusal names it (body.opening_hours.N.end_minute).
        start = info.data.get("start_minute")
        if start is not None and end <= start:
            raise ValueError("an opening window must end after it starts (within one day)")
        return end


class PolicyValues(BaseModel):
    idle_s: int
    max_s: int
    warn_s: int
    watermark: bool
    privacy_screen: PrivacyScreenValue
    end_on_violation: bool
    text_entry: TextEntryValue
    ice_policy: Literal["all", "relay"]
    lan_candidates: bool


class Limit(BaseModel):
    low: int
    high: int


class SettingsView(BaseModel):
    policy: PolicyValues = Field(description="in force for new sessions")
    defaults: PolicyValues = Field(description="the broker's, used until the clinic sets its own")
    limits: dict[str, Limit]
    opening_hours: list[HoursWindow] = Field(
        description="the clinic's, in its time zone (the privacy screen's outside_hours)"
    )
    time_zone: str
    max_opening_windows: int
    updated_at: datetime | None
    updated_by: int | None


class SettingsChange(BaseModel):
    """Only the values given change. Bounds are checked in broker/access/remote_policy.py;
    these field limits only keep absurd numbers out of the parser."""

    model_config = ConfigDict(extra="forbid")
    idle_s: int | None = Field(default=None, ge=0, le=10**6)
    max_s: int | None = Field(default=None, ge=0, le=10**6)
    warn_s: int | None = Field(default=None, ge=0, le=10**6)
    watermark: bool | None = None
    privacy_screen: PrivacyScreenValue | None = None
    end_on_violation: bool | None = None
    text_entry: TextEntryValue | None = None
    ice_policy: Literal["all", "relay"] | None = None
    lan_candidates: bool | None = None
    opening_hours: list[HoursWindow] | None = Field(
        default=None, max_length=opening_hours.MAX_WINDOWS, description="replaces them all"
    )


def _values(policy: RemotePolicy) -> PolicyValues:
    return PolicyValues(
        idle_s=policy.idle_s,
        max_s=policy.max_s,
        warn_s=policy.warn_s,
        watermark=policy.watermark,
        privacy_screen=cast(PrivacyScreenValue, policy.privacy_screen),
        end_on_violation=policy.end_on_violation,
        text_entry=cast(TextEntryValue, policy.text_entry),
        ice_policy="relay" if policy.ice_policy == "relay" else "all",
        lan_candidates=policy.lan_candidates,
    )


def _window(window: OpeningWindow) -> HoursWindow:
    return HoursWindow(
        days=sorted(window.days),
        start_minute=window.start_minute,
        end_minute=window.end_minute,
    )


async def _view(request: Request, db: Db, org_id: int) -> SettingsView:
    defaults: RemotePolicy = request.app.state.relay.policy
    row = await db.get(OrgPolicy, org_id)
    policy = await org_policy.policy_for(db, org_id, defaults)
    return SettingsView(
        policy=_values(policy),
        defaults=_values(defaults),
        limits={k: Limit(low=b.low, high=b.high) for k, b in org_policy.LIMITS.items()},
        opening_hours=[_window(w) for w in policy.opening_hours],
        time_zone=await org_time_zone(db, org_id),
        max_opening_windows=opening_hours.MAX_WINDOWS,
        updated_at=row.updated_at if row else None,
        updated_by=row.updated_by if row else None,
    )


@router.get("")
async def read_settings(request: Request, db: Db, caller: AdminCaller) -> SettingsView:
    """The organization's remote-session settings."""
    return await _view(request, db, caller.org_id)


@router.put("")
async def change_settings(
    body: SettingsChange, request: Request, db: Db, caller: AdminCaller
) -> SettingsView:
    """Change some settings; they apply to sessions that start afterwards."""
    relay: Relay = request.app.state.relay
    now = deps.now_of(request)
    changes: dict[str, int | bool | str | tuple[OpeningWindow, ...]] = body.model_dump(
        exclude_none=True, exclude={"opening_hours"}
    )
    if body.opening_hours is not None:
        changes["opening_hours"] = tuple(
            OpeningWindow(frozenset(w.days), w.start_minute, w.end_minute)
            for w in body.opening_hours
        )
    try:
        changed = await org_policy.change(
            db, caller.org_id, relay.policy, changes, caller.user.id, now
        )
    except SettingRefused as exc:
        record(db, caller.actor, Event.SETTINGS_CHANGED, Outcome.DENIED, now, detail=str(exc))
        await db.commit()
        raise BadRequest(str(exc), code=exc.code) from exc
    if changed:
        record(
            db,
            caller.actor,
            Event.SETTINGS_CHANGED,
            Outcome.SUCCESS,
            now,
            detail="; ".join(changed),
        )
    await db.commit()
    return await _view(request, db, caller.org_id)
