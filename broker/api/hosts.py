"""Hosts of the caller's organization, and the tickets that open a viewer on one."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from broker.api import deps
from broker.api.deps import ActiveCaller, Db, Text
from broker.api.devices import ChallengeText, Fingerprint, SignatureText, proven_device
from broker.security import device_challenges, tickets
from broker.security.audit import Event, Outcome, record
from broker.signaling.relay import Relay

router = APIRouter(prefix="/api", tags=["hosts"])


class HostView(BaseModel):
    host_id: str
    name: str
    busy: bool


class HostList(BaseModel):
    hosts: list[HostView]


class TicketRequest(BaseModel):
    """A viewer ticket needs the device's answer to a fresh challenge (api/devices.py)."""

    model_config = ConfigDict(extra="forbid")
    # The signaling protocol's host id rule (broker/protocol.py), checked here already.
    host_id: Text = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    device: Fingerprint
    challenge: ChallengeText
    signature: SignatureText


class BlockedEvent(BaseModel):
    """The viewer swallowed something pixel-only forbids (a paste or a drop onto the page)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["paste_blocked", "drop_blocked"]
    host_id: Text = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")


class Ticket(BaseModel):
    ticket: str = Field(description="for /ws/viewer?ticket=...; single use")
    expires_in: int = Field(description="seconds")


@router.get("/hosts")
async def list_hosts(request: Request, caller: ActiveCaller) -> HostList:
    """Hosts of the caller's organization whose agents are connected now."""
    relay: Relay = request.app.state.relay
    return HostList(
        hosts=[
            HostView(host_id=h.host_id, name=h.name, busy=h.busy)
            for h in relay.hosts(caller.org_id)
        ]
    )


@router.post("/viewer-tickets", status_code=201)
async def viewer_ticket(
    body: TicketRequest, request: Request, db: Db, caller: ActiveCaller
) -> Ticket:
    """A single-use ticket, valid 30 s, for one viewer WebSocket on ``host_id``, for an
    approved device that signed its challenge (refusals: api/devices.py)."""
    ttl = deps.settings_of(request).ticket_ttl_s
    now = deps.now_of(request)
    device = await proven_device(
        db, caller, body.host_id, body.device, body.challenge, body.signature, now
    )
    ticket = await tickets.issue(db, caller.record, body.host_id, now, ttl)
    await device_challenges.link_ticket(db, body.challenge, ticket)
    record(
        db,
        caller.actor,
        Event.VIEWER_TICKET,
        Outcome.SUCCESS,
        now,
        detail=f"{body.host_id} device={device.id}",
    )
    await db.commit()
    return Ticket(ticket=ticket, expires_in=ttl)


@router.post("/viewer-events", status_code=204)
async def viewer_event(
    body: BlockedEvent, request: Request, db: Db, caller: ActiveCaller
) -> Response:
    """Audit a paste or drop the viewer refused to forward (MHLW.md row 3: no data goes in
    or out but keyboard and pointer events); nothing else happens."""
    record(
        db,
        caller.actor,
        Event.CLIENT_BLOCKED,
        Outcome.DENIED,
        deps.now_of(request),
        detail=f"{body.kind} host={body.host_id}",
    )
    await db.commit()
    return Response(status_code=204)
