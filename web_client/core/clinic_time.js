/**
 * The clinic's time zone, held in one place. No DOM; tested in Node.
 *
 * The broker says which zone: the session's `user.time_zone` (GET /api/session; the zone
 * the clinic's admin chose under 時間帯), and the answers of pages that depend on it (the
 * host list, grants, vendor requests, alert settings). main.js sets it with every session;
 * a page that hears it again sets it too, so a change by the admin shows without a reload.
 * The broker stores UTC: every page shows times with `inClinicZone`, and the audit search
 * turns the clinic's calendar days into instants with `dayStartIn`.
 */

// IANA names as the broker lists them (broker/access/zones.py): letters, digits, _ + - and /.
const ZONE = /^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/;

// Until a session names the zone, the browser's own (nothing with a time shows before one).
let current;

/** `zone` if it is a plausible zone name, else null (the broker is trusted, not blindly). */
export function readZone(zone) {
  return typeof zone === "string" && ZONE.test(zone) ? zone : null;
}

/** Hold the clinic's zone from the broker; a malformed name keeps the one held. */
export function setClinicZone(zone) {
  current = readZone(zone) ?? current;
  return current;
}

/** The clinic's zone (undefined before a session named it: the browser's own). */
export function clinicZone() {
  return current;
}

/** `Intl` / `toLocaleString` options that show a time in the clinic's zone. */
export function inClinicZone(options = {}) {
  return { ...options, timeZone: current };
}

function parts(instant, zone) {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  });
  const found = {};
  for (const { type, value } of format.formatToParts(new Date(instant))) found[type] = Number(value);
  return found;
}

/** Minutes `zone` is ahead of UTC at `instant` (ms); daylight saving included. */
export function offsetMinutes(instant, zone) {
  const p = parts(instant, zone);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return Math.round((wall - Math.floor(instant / 1000) * 1000) / 60_000);
}

function offsetText(minutes) {
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

/**
 * Midnight of `y-m-d` in `zone`, as ISO with that day's offset ("2026-11-21T00:00:00-05:00").
 * The offset is looked up twice: once near the wall time, then at the instant found, so a
 * day that starts in the other half of a daylight-saving change gets its own offset.
 */
export function dayStartIn(y, m, d, zone) {
  const wall = Date.UTC(y, m - 1, d);
  let offset = offsetMinutes(wall, zone);
  offset = offsetMinutes(wall - offset * 60_000, zone);
  const day = `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
  return `${day}T00:00:00${offsetText(offset)}`;
}
