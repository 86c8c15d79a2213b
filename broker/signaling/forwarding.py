"""What passes between a viewer and its agent inside a session, and what is refused on the
way (``Relay.from_viewer`` and ``Relay.from_agent`` call these).

- SDP must be one video and one data channel (``mamori_protocol.sdp``); anything else is
  audited as a violation and ends the session.
- The viewer's candidates pass the session's ``CandidateBudget`` (the clinic's source
  networks, relay only, no probes of the broker's neighbourhood); a refused probe is audited
  once per session, the honest refusals (mDNS names, LAN ranges refused) are not.
- Under relay only, the agent filters its own candidates and this hop drops any non-relay
  one again (fail closed).
- A message naming another session than the agent's live one is dropped: it belongs to a
  viewer that has already left.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import mamori_protocol as protocol
from broker.errors import NotInSession, PolicyRefused
from broker.signaling.sessions import AgentLink, Session
from mamori_protocol import CloseCode
from mamori_protocol.candidates import Refusal, filter_sdp_candidates, is_relay_line
from mamori_protocol.errors import SdpPolicyError
from mamori_protocol.sdp import SdpRole, check_session_description

if TYPE_CHECKING:
    from broker.signaling.relay import Relay

log = logging.getLogger(__name__)


async def viewer_message(relay: Relay, session: Session, message: protocol.Message) -> None:
    """Forward a viewer's offer, candidate or bye to its agent, naming the session."""
    if session.agent.session is not session:
        raise NotInSession("the session has ended")
    sid = session.session_id
    match message:
        case protocol.Offer(sdp=sdp):
            await _check_sdp(relay, session, sdp, SdpRole.OFFER_FROM_VIEWER)
            refused: list[Refusal] = []

            def admit(line: str) -> bool:
                found = session.candidates.admit(line)
                if found is not None:
                    refused.append(found)
                return found is None

            sdp = filter_sdp_candidates(sdp, admit)
            for each in refused:
                await _candidate_refused(relay, session, each)
            out: protocol.Message = protocol.Offer(sdp=sdp, session_id=sid)
        case protocol.IceCandidate(candidate=c, sdp_mid=mid, sdp_mline_index=index):
            if c:
                refusal = session.candidates.admit(c)
                if refusal is not None:
                    await _candidate_refused(relay, session, refusal)
                    return
            out = protocol.IceCandidate(c, mid, index, session_id=sid)
        case protocol.Bye(reason=reason):
            await relay.leave(session, reason)
            return
        case _:
            raise NotInSession(f"{message.TYPE} is not expected inside a session")
    await session.agent.peer.send(protocol.encode(out))


async def agent_message(relay: Relay, agent: AgentLink, message: protocol.Message) -> None:
    """Forward an agent's answer, candidate or bye to the viewer of that session.

    Messages naming another (stale) session are dropped: they belong to a viewer that has
    already left.
    """
    session = agent.session
    sid = getattr(message, "session_id", None)
    if session is None or sid != session.session_id:
        log.info("agent %s: dropping %s for stale session", agent.host_id, message.TYPE)
        return
    match message:
        case protocol.Violation(violation=violation, detail=detail):
            log.warning("session %s: agent reports %s", session.session_id, violation)
            await relay.events.violation(session, violation, detail)
            return
        case protocol.Activity():
            session.last_activity_at = time.monotonic()
            return
        case protocol.Answer(sdp=sdp):
            try:
                await _check_sdp(relay, session, sdp, SdpRole.ANSWER_FROM_HOST)
            except PolicyRefused:
                await relay.end_from_host(agent, "sdp_refused", CloseCode.POLICY_VIOLATION)
                return
            if session.relay_only:
                # The agent filters its own; this hop does it again (fail closed).
                sdp = filter_sdp_candidates(sdp, is_relay_line)
            out: protocol.Message = protocol.Answer(sdp=sdp)
        case protocol.IceCandidate(candidate=c, sdp_mid=mid, sdp_mline_index=index):
            if c and session.relay_only and not is_relay_line(c):
                log.warning("session %s: agent sent a non-relay candidate", sid)
                return
            out = protocol.IceCandidate(c, mid, index)
        case protocol.Bye(reason=reason):
            await relay.end_from_host(agent, reason, CloseCode.NORMAL)
            return
        case _:
            raise NotInSession(f"{message.TYPE} is not expected inside a session")
    await session.viewer.send(protocol.encode(out))


async def _candidate_refused(relay: Relay, session: Session, refusal: Refusal) -> None:
    """A viewer's candidate was dropped. Refusals an honest browser never causes (a
    probe: loopback, link-local, the cap...) are audited, once per session; the rest
    (mDNS names, LAN ranges the clinic refuses, non-relay under relay only) are not."""
    budget = session.candidates
    if not refusal.probe or session.candidates_audited or budget.first_probe is None:
        return
    session.candidates_audited = True
    kind, line = budget.first_probe
    log.warning("session %s: remote candidate refused (%s)", session.session_id, kind.token)
    await relay.events.violation(session, "ice_candidate_refused", f"{kind.token}: {line}"[:200])


async def _check_sdp(relay: Relay, session: Session, sdp: str, role: SdpRole) -> None:
    """Refuse, audit and end a session whose SDP is not one video plus one data channel."""
    try:
        check_session_description(sdp, role)
    except SdpPolicyError as exc:
        log.warning("session %s: %s refused: %s", session.session_id, role.name, exc)
        await relay.events.violation(session, "sdp_refused", str(exc))
        await relay.leave(session, "sdp_refused")
        raise PolicyRefused(f"session description refused: {exc}") from exc
