/**
 * Hash routes of the one-page client: `#/` (host list) and `#/host/<host_id>` (viewer).
 * Pure: app/main.js passes location.hash in.
 */

import { isHostId } from "./protocol.js";

/**
 * @param {string} hash location.hash, with or without the leading "#"
 * @returns {{name: "hosts"} | {name: "viewer", hostId: string}} an unknown or malformed
 *   route (a host id the broker would refuse included) is the host list.
 */
export function parseRoute(hash) {
  const path = String(hash ?? "").replace(/^#/, "");
  const match = /^\/host\/([^/?#]+)\/?$/.exec(path);
  if (match) {
    let hostId;
    try {
      hostId = decodeURIComponent(match[1]);
    } catch {
      return { name: "hosts" };
    }
    if (isHostId(hostId)) return { name: "viewer", hostId };
  }
  return { name: "hosts" };
}

/** The hash that opens the viewer on `hostId`. */
export function viewerHash(hostId) {
  return `#/host/${encodeURIComponent(hostId)}`;
}

export const HOSTS_HASH = "#/";
