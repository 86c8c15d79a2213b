"""``/access/{token}``: spend a one-time link and start a browser session."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from broker.security.access_links import SESSION_COOKIE, AccessLinks

log = logging.getLogger(__name__)
router = APIRouter()

_SPENT_PAGE = """<!doctype html><html lang="ja"><meta charset="utf-8">
<title>Mamori</title><link rel="stylesheet" href="/style.css">
<main class="notice"><h1>このリンクは使えません</h1>
<p>リンクの有効期限が切れているか、すでに使われています。管理者に新しいリンクを依頼してください。</p>
<p lang="en">This link has expired or has already been used. Ask for a new one.</p></main>
"""


@router.get("/access/{token}")
async def redeem(request: Request, token: str) -> Response:
    """A valid link sets an HttpOnly, Secure, SameSite=Strict cookie and is spent."""
    links: AccessLinks = request.app.state.access_links
    session = links.redeem(token) if len(token) <= 128 else None
    if session is None:
        log.warning("access link refused from %s", request.client)
        return HTMLResponse(_SPENT_PAGE, status_code=status.HTTP_403_FORBIDDEN)
    log.info("access link redeemed from %s", request.client)
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=request.app.state.settings.session_ttl_s,
        httponly=True,
        secure=True,
        samesite="strict",
        path="/",
    )
    return response
