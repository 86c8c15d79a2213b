"""Hosts of the caller's organization, and the tickets that open a viewer on one.

Both answer by the caller's grants (broker/access/decision.py): the list shows only hosts a
grant covers, with what opening one now would give (control, view only, or why not: outside
the window, or a vendor's missing approval); a ticket is refused (403 with that reason, and
audited) unless a session could start now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from broker.access import decision as access
from broker.access import grants as access_grants
from broker.access import remote_policy as org_policy
from broker.access import tickets, vendor_requests
from broker.access.decision import Hop
from broker.access.grants import Refusal
from broker.access.zones import zone_of
from broker.api import deps
from broker.api.deps import ActiveCaller, Db, Text
from broker.api.devices import ChallengeText, Fingerprint, SignatureText, proven_device
from broker.api.settings import TextEntryValue
from broker.api.source_networks import require_allowed_source
from broker.audit.record import Event, Outcome, record
from broker.db.models import Organization
from broker.devices import challenges as device_challenges
from broker.errors import Forbidden, NotSignedIn
from broker.signaling.admission import refusal_message
from broker.signaling.relay import Relay

router = APIRouter(prefix="/api", tags=["hosts"])


ShownRefusal = Literal["outside_window", "vendor_not_approved"]
# Hosts refused for lack of any grant are not listed at all.
_SHOWN: dict[Refusal, ShownRefusal] = {
    Refusal.OUTSIDE_WINDOW: "outside_window",
    Refusal.VENDOR_NOT_APPROVED: "vendor_not_approved",
}


class RequestState(BaseModel):
    """A vendor's latest request for this host (vendors only)."""

    id: int
    state: Literal["pending", "approved", "denied", "used", "expired"]
    expires_at: datetime


class HostView(BaseModel):
    host_id: str
    name: str
    busy: bool
    mode: Literal["view", "control"] | None = Field(
        default=None, description="what a session opened now would allow; None if refused"
    )
    refusal: ShownRefusal | None = Field(
        default=None, description="why a session cannot be opened now"
    )
    closes_at: datetime | None = Field(
        default=None, description="when the grant's time window closes (UTC)"
    )
    request: RequestState | None = None


class HostList(BaseModel):
    hosts: list[HostView]
    has_grant: bool = Field(
        default=True,
        description="whether any grant names the caller: an empty list then means no "
        "permitted PC is on, otherwise that an admin must add a grant first",
    )
    time_zone: str | None = Field(
        default=None, description="the clinic's zone, for showing times the clinic's way"
    )


class TicketRequest(BaseModel):
    """A viewer ticket needs the device's answer to a fresh challenge (api/devices.py)."""

    model_config = ConfigDict(extra="forbid")
    # The signaling protocol's host id rule (mamori_protocol/__init__.py), checked here already.
    host_id: Text = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    device: Fingerprint
    challenge: ChallengeText
    signature: SignatureText


class BlockedEvent(BaseModel):
    """The viewer swallowed something pixel-only forbids (a paste or a drop onto the page)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["paste_blocked", "drop_blocked"]
    host_id: Text = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")


class IceServerView(BaseModel):
    """One RTCIceServer: STUN without a credential, TURN with this ticket's own."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class Ticket(BaseModel):
    ticket: str = Field(description="for /ws/viewer?ticket=...; single use")
    expires_in: int = Field(description="seconds")
    view_only: bool = Field(description="the grant allows the picture only")
    closes_at: datetime | None = Field(description="the grant's window closes then (UTC)")
    text_entry: Literal["host_ime", "viewer_text", "both"] = Field(
        description="the clinic's text entry: whether the viewer offers its own text field"
    )
    ice_servers: list[IceServerView] = Field(
        default_factory=list,
        description="for RTCPeerConnection's iceServers; the TURN credential expires soon",
    )
    ice_policy: Literal["all", "relay"] = Field(
        default="all", description="the clinic's: relay means iceTransportPolicy 'relay'"
    )


async def _organization(db: Db, caller: deps.Caller) -> Organization:
    org = await db.get(Organization, caller.org_id)
    if org is None:  # the session outlived its clinic: nothing to open
        raise NotSignedIn("sign in first")
    return org


@router.get("/hosts")
async def list_hosts(request: Request, db: Db, caller: ActiveCaller) -> HostList:
    """Hosts of the caller's organization whose agents are connected now and that one of
    the caller's grants covers, with what a session now would be."""
    relay: Relay = request.app.state.relay
    online = relay.hosts(caller.org_id)
    now = deps.now_of(request)
    org = await _organization(db, caller)
    checked = await access.for_hosts(db, caller.user, org, [h.host_id for h in online], now)
    shown = []
    for h in online:
        found = checked[h.host_id]
        decision = found.decision
        if decision.refusal is Refusal.NO_GRANT:
            continue
        request_state = None
        if found.request is not None:
            request_state = RequestState(
                id=found.request.id,
                state=vendor_requests.state_of(found.request, now).value,
                expires_at=found.request.expires_at,
            )
        shown.append(
            HostView(
                host_id=h.host_id,
                name=h.name,
                busy=h.busy,
                mode=decision.access.value if decision.access is not None else None,
                refusal=_SHOWN.get(decision.refusal) if decision.refusal is not None else None,
                closes_at=decision.closes_at,
                request=request_state,
            )
        )
    has_grant = bool(shown) or await access_grants.holds_any(db, caller.user)
    return HostList(hosts=shown, has_grant=has_grant, time_zone=zone_of(org))


@router.post("/viewer-tickets", status_code=201)
async def viewer_ticket(
    body: TicketRequest, request: Request, db: Db, caller: ActiveCaller
) -> Ticket:
    """A single-use ticket, valid 30 s, for one viewer WebSocket on ``host_id``.

    Needs an approved device that signed its fresh challenge (refusals: api/devices.py),
    and a source address the clinic's lists admit (403 ``source_not_allowed``), then a grant
    that allows a session now (403 ``no_grant``, ``outside_window`` or
    ``vendor_not_approved``); every refusal is audited as ``session_refused`` and the
    WebSocket checks both again.
    """
    ttl = deps.settings_of(request).ticket_ttl_s
    now = deps.now_of(request)
    # Every ticket, not only the sign-in: a session that signed in from an allowed network
    # cannot open a PC after moving outside it (MHLW.md row 17).
    await require_allowed_source(db, caller.actor, caller.user, caller.source, "ticket", now)
    device = await proven_device(
        db, caller, body.host_id, body.device, body.challenge, body.signature, now
    )
    org = await _organization(db, caller)
    decision = (await access.for_host(db, caller.user, org, body.host_id, now)).decision
    if decision.refusal is not None:
        access.record_refusal(db, caller.actor, body.host_id, decision.refusal, Hop.TICKET, now)
        await db.commit()
        raise Forbidden(refusal_message(decision.refusal), code=decision.refusal.value)
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
    relay: Relay = request.app.state.relay
    remote = await org_policy.policy_for(db, caller.org_id, relay.policy)
    # The viewer's TURN credential names the person (coturn logs it); the agent's names the
    # session (broker/signaling/relay.py).
    servers = relay.ice(f"user{caller.user.id}")
    return Ticket(
        ticket=ticket,
        expires_in=ttl,
        view_only=decision.view_only,
        closes_at=decision.closes_at,
        # The agent enforces the same value (session_start); this only shapes the page.
        text_entry=cast(TextEntryValue, remote.text_entry),
        ice_servers=[
            IceServerView(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in servers
        ],
        ice_policy="relay" if remote.ice_policy == "relay" else "all",
    )


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
