"""HTTP routes about hosts: the list a signed-in viewer may open."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, HTTPException, Request, status

from broker.security.access_links import SESSION_COOKIE, AccessLinks
from broker.signaling.relay import Relay

router = APIRouter(prefix="/api")


def require_session(request: Request, token: str | None) -> None:
    """Refuse with 401 unless the request carries a live browser session."""
    links: AccessLinks = request.app.state.access_links
    if not links.session_valid(token):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="not signed in")


@router.get("/hosts")
async def list_hosts(
    request: Request,
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
) -> dict[str, list[dict[str, object]]]:
    """Hosts whose agents are connected now, with whether a viewer is on them."""
    require_session(request, session)
    relay: Relay = request.app.state.relay
    return {
        "hosts": [{"host_id": h.host_id, "name": h.name, "busy": h.busy} for h in relay.hosts()]
    }
