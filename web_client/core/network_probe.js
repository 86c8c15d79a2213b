/**
 * Which public address this browser has now, as the broker's STUN server sees it: the
 * server-reflexive candidates of a throwaway peer connection that asks only the ticket's
 * `stun:` URLs. No DOM; the browser's RTCPeerConnection and timers come in as arguments.
 *
 * Why (core/viewer_session.js): a path that receives nothing may be a network that is gone
 * (Wi-Fi to LTE: the home's public address changed, the picture will never come back on
 * this peer connection) or a short outage on the same network (it comes back by itself).
 * Only the first is worth ending the peer connection for at once; the bytes alone cannot
 * tell them apart, a STUN answer can: a new public address is a new network. An outage
 * answers nothing (inconclusive), the same network answers the same address.
 *
 * The address goes only to the STUN server the broker named (which sees it anyway on any
 * TURN allocation), never to the clinic PC: the probe is not the session's peer connection.
 */

// Long enough for a STUN answer on any usable path (one round trip, a retransmission);
// a probe that finds nothing by then is inconclusive.
export const PROBE_TIMEOUT_MS = 1500;

/** The ticket's servers reduced to their `stun:` URLs (no credentials: STUN needs none). */
export function stunServersOf(iceServers) {
  const urls = [];
  for (const server of Array.isArray(iceServers) ? iceServers : []) {
    for (const url of Array.isArray(server?.urls) ? server.urls : []) {
      if (typeof url === "string" && url.startsWith("stun:")) urls.push(url);
    }
  }
  return urls.length === 0 ? [] : [{ urls }];
}

/** The address of a server-reflexive candidate line ("candidate:... ip port typ srflx ..."),
 * else null. */
export function reflexiveAddress(line) {
  const parts = typeof line === "string" ? line.split(" ") : [];
  const at = parts.indexOf("typ");
  if (at !== 6 || parts[at + 1] !== "srflx") return null;
  const address = parts[4];
  return address.length > 0 && address.length <= 64 ? address : null;
}

/**
 * The public addresses STUN reports, gathered until gathering completes or `timeoutMs`;
 * with `first`, the first one found ends the probe (what a stalled path needs). Resolves to
 * a Set (empty: nothing answered), or null without a STUN server or when the browser would
 * not make the probe. Never rejects; the probe connection is always closed.
 */
export function publicAddresses(PeerConnection, iceServers, timers, { first = false, timeoutMs = PROBE_TIMEOUT_MS } = {}) {
  const servers = stunServersOf(iceServers);
  if (servers.length === 0 || typeof PeerConnection !== "function") return Promise.resolve(null);
  return new Promise((resolve) => {
    const found = new Set();
    let pc = null;
    let timer = null;
    let done = false;
    const finish = (result) => {
      if (done) return;
      done = true;
      timers.clearTimeout(timer);
      try {
        pc?.close();
      } catch {
        // already closed
      }
      resolve(result);
    };
    try {
      pc = new PeerConnection({ iceServers: servers, iceTransportPolicy: "all" });
      pc.addEventListener("icecandidate", (event) => {
        if (!event.candidate) {
          finish(found);
          return;
        }
        const address = reflexiveAddress(event.candidate.candidate);
        if (address === null) return;
        found.add(address);
        if (first) finish(found);
      });
      // A data channel is the cheapest way to have something to gather for.
      pc.createDataChannel("probe");
      timer = timers.setTimeout(() => finish(found), timeoutMs);
      pc.createOffer()
        .then((offer) => (done ? null : pc.setLocalDescription(offer)))
        .catch(() => finish(null));
    } catch {
      finish(null);
    }
  });
}

/** Whether `now` names a network other than `before`: both known, and no address shared. */
export function networkChanged(before, now) {
  if (!before || !now || before.size === 0 || now.size === 0) return false;
  for (const address of now) if (before.has(address)) return false;
  return true;
}
