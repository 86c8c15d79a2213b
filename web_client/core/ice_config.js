/**
 * The viewer's RTCPeerConnection configuration from its ticket (POST /api/viewer-tickets):
 * the STUN/TURN servers the broker minted a short-lived TURN credential for, and the
 * clinic's ICE policy. Under "relay" the browser gathers relay candidates only
 * (iceTransportPolicy), and this side also refuses to send any other kind: the clinic PC
 * never learns this browser's home address. No DOM.
 */

const MAX_SERVERS = 8;
const MAX_URLS = 8;
const URL_FORM = /^(stun|turn|turns):[A-Za-z0-9.\-[\]:]{1,260}(\?transport=(udp|tcp))?$/;

function isText(value, limit) {
  return typeof value === "string" && value.length > 0 && value.length <= limit;
}

/** The ticket's `ice_servers`, kept only in the shape RTCIceServer takes; anything else dropped. */
export function iceServersOf(list) {
  if (!Array.isArray(list)) return [];
  const servers = [];
  for (const entry of list.slice(0, MAX_SERVERS)) {
    if (!entry || !Array.isArray(entry.urls)) continue;
    const urls = entry.urls.filter((u) => isText(u, 300) && URL_FORM.test(u)).slice(0, MAX_URLS);
    if (urls.length === 0) continue;
    const server = { urls };
    if (isText(entry.username, 200) && isText(entry.credential, 200)) {
      server.username = entry.username;
      server.credential = entry.credential;
    }
    servers.push(server);
  }
  return servers;
}

/** RTCConfiguration for a ticket `{iceServers, icePolicy}` (missing: none, "all"). */
export function peerConfiguration(grant) {
  return {
    iceServers: iceServersOf(grant?.iceServers),
    iceTransportPolicy: grant?.icePolicy === "relay" ? "relay" : "all",
  };
}

/** Whether an ICE candidate line ("candidate:... typ relay ...") is a relay candidate. */
export function isRelayCandidate(line) {
  const parts = typeof line === "string" ? line.split(" ") : [];
  const at = parts.indexOf("typ");
  return at > 0 && parts[at + 1] === "relay";
}
