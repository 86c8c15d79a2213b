/**
 * The broker's host list (GET /api/hosts), read without trusting it to be well-formed: the
 * host list page (app/hosts.js) shows it, and the viewer page names its host from it.
 */

import { readZone as readClinicZone } from "./clinic_time.js";
import { readAccess } from "./grants.js";
import { isHostId, MAX_NAME_CHARS } from "./protocol.js";


/**
 * Keep only well-formed entries; the page shows what the broker says but never trusts it to
 * be well-formed (textContent only, ids checked against the protocol's pattern).
 * @returns {{hostId: string, name: string, busy: boolean, mode: string | null,
 *   refusal: string | null, closesAt: Date | null, request: object | null}[] | null} null if
 *   the body is not a host list at all.
 */
export function readHosts(body) {
  if (typeof body !== "object" || body === null || !Array.isArray(body.hosts)) return null;
  const hosts = [];
  const seen = new Set();
  for (const item of body.hosts) {
    if (typeof item !== "object" || item === null) continue;
    const { host_id: hostId, name, busy } = item;
    if (!isHostId(hostId) || seen.has(hostId)) continue;
    seen.add(hostId);
    const shown = typeof name === "string" && name.trim() ? name.slice(0, MAX_NAME_CHARS) : hostId;
    const access = readAccess(item);
    if (access.refusal === "no_grant") continue;
    hosts.push({ hostId, name: shown, busy: busy === true, ...access });
  }
  return hosts;
}

/** The clinic's zone from a host list body, if it names a plausible one (else null). */
export function readZone(body) {
  return readClinicZone(body?.time_zone);
}
