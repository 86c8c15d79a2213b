"""The console's settings page: an organization's limits for remote sessions.

Reading shows the values in force and the broker's defaults beside them; every change is
audited with the old and the new value (MHLW.md row 8; issue 7 "admin setting changes").
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from broker.access import remote_policy as org_policy
from broker.access.remote_policy import RemotePolicy
from broker.api import deps
from broker.api.deps import AdminCaller, Db
from broker.audit.record import Event, Outcome, record
from broker.db.models import OrgPolicy
from broker.errors import BadRequest, SettingRefused
from broker.signaling.relay import Relay

# mamori_protocol.text_input.TextEntry's values (a test keeps the two equal).
TextEntryValue = Literal["host_ime", "viewer_text", "both"]

router = APIRouter(prefix="/api/admin/settings", tags=["admin"])


class PolicyValues(BaseModel):
    idle_s: int
    max_s: int
    warn_s: int
    watermark: bool
    block_local_input: bool
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
    block_local_input: bool | None = None
    end_on_violation: bool | None = None
    text_entry: TextEntryValue | None = None
    ice_policy: Literal["all", "relay"] | None = None
    lan_candidates: bool | None = None


def _values(policy: RemotePolicy) -> PolicyValues:
    return PolicyValues(
        idle_s=policy.idle_s,
        max_s=policy.max_s,
        warn_s=policy.warn_s,
        watermark=policy.watermark,
        block_local_input=policy.block_local_input,
        end_on_violation=policy.end_on_violation,
        text_entry=cast(TextEntryValue, policy.text_entry),
        ice_policy="relay" if policy.ice_policy == "relay" else "all",
        lan_candidates=policy.lan_candidates,
    )


async def _view(request: Request, db: Db, org_id: int) -> SettingsView:
    defaults: RemotePolicy = request.app.state.relay.policy
    row = await db.get(OrgPolicy, org_id)
    return SettingsView(
        policy=_values(await org_policy.policy_for(db, org_id, defaults)),
        defaults=_values(defaults),
        limits={k: Limit(low=b.low, high=b.high) for k, b in org_policy.LIMITS.items()},
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
    changes = body.model_dump(exclude_none=True)
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
