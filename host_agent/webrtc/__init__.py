"""The WebRTC side: peer session, negotiation, RTCP feedback, ICE."""
