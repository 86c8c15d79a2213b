/**
 * Viewing devices, the pure part: what the device key signs, its fingerprint, the default
 * name of a device, and reading the broker's answers. No DOM and no storage (app/device_key.js
 * keeps the key in IndexedDB); WebCrypto only where a digest is needed, so Node tests it.
 *
 * Before every viewer session the broker hands out a challenge (POST /api/viewer-challenges)
 * and the browser signs `challengeMessage(hostId, challenge)` with its non-extractable P-256
 * key; broker/devices/challenges.py builds the same bytes.
 */

export const CHALLENGE_CONTEXT = "mamori-viewer-challenge-v1";
export const DEVICE_STATES = Object.freeze(["pending", "approved", "denied", "revoked"]);
export const MAX_LABEL_CHARS = 64;

// Refusals a viewer cannot fix by trying again: only registering this browser or an
// admin's decision changes them (device_challenge, a slow answer, is worth a retry).
export const FINAL_DEVICE_ERRORS = Object.freeze([
  "device_unregistered",
  "device_unknown",
  "device_pending",
  "device_denied",
  "device_revoked",
  "device_signature",
  "device_unsupported",
]);

const FINGERPRINT = /^[0-9a-f]{64}$/;

/** The bytes the device key signs for `hostId`'s viewer session. */
export function challengeMessage(hostId, challenge) {
  return new TextEncoder().encode(`${CHALLENGE_CONTEXT}\n${hostId}\n${challenge}`);
}

/** Lowercase hex of bytes. */
export function hex(data) {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The device's identifier as the broker computes it: SHA-256 of the public key's
 * SubjectPublicKeyInfo (what crypto.subtle.exportKey("spki", publicKey) gives), hex.
 * @param {ArrayBuffer | Uint8Array} spki
 * @returns {Promise<string>}
 */
export async function fingerprintOf(spki) {
  return hex(await globalThis.crypto.subtle.digest("SHA-256", spki));
}

/** Only the public members of an exported JWK: what is sent to the broker. */
export function publicJwk(jwk) {
  const { kty, crv, x, y } = jwk ?? {};
  return { kty, crv, x, y };
}

/**
 * A name for this device that a clinic admin recognizes, from the browser's User-Agent:
 * "Chrome / Windows", "Safari / iPhone". The person may change it before registering.
 * @param {string} userAgent
 */
export function defaultLabel(userAgent) {
  const ua = String(userAgent ?? "");
  const browser = /Edg(e|A|iOS)?\//.test(ua) ? "Edge"
    : /OPR\//.test(ua) ? "Opera"
    : /Firefox\/|FxiOS\//.test(ua) ? "Firefox"
    : /Chrome\/|CriOS\//.test(ua) ? "Chrome"
    : /Safari\//.test(ua) ? "Safari"
    : "Browser";
  const system = /iPhone/.test(ua) ? "iPhone"
    : /iPad/.test(ua) ? "iPad"
    : /Android/.test(ua) ? "Android"
    : /Windows/.test(ua) ? "Windows"
    : /Mac OS X|Macintosh/.test(ua) ? "Mac"
    : /CrOS/.test(ua) ? "ChromeOS"
    : /Linux/.test(ua) ? "Linux"
    : "";
  return (system ? `${browser} / ${system}` : browser).slice(0, MAX_LABEL_CHARS);
}

/** A label as typed, or null when it cannot be registered (blank or too long). */
export function cleanLabel(text) {
  const label = String(text ?? "").trim();
  if (!label || [...label].length > MAX_LABEL_CHARS) return null;
  return label;
}

/**
 * The caller's devices from GET /api/devices, keeping only well-formed entries.
 * @returns {{id: number, label: string, state: string, fingerprint: string}[] | null}
 */
export function readOwnDevices(body) {
  if (typeof body !== "object" || body === null || !Array.isArray(body.devices)) return null;
  const out = [];
  for (const item of body.devices) {
    if (typeof item !== "object" || item === null) continue;
    const { id, label, state, fingerprint } = item;
    if (!Number.isInteger(id) || typeof label !== "string") continue;
    if (!DEVICE_STATES.includes(state) || !FINGERPRINT.test(String(fingerprint))) continue;
    out.push({ id, label: label.slice(0, MAX_LABEL_CHARS), state, fingerprint });
  }
  return out;
}

/**
 * What the broker decided about this browser's key for the signed-in person.
 * @param {{state: string, fingerprint: string}[]} devices from readOwnDevices
 * @param {string | null} fingerprint this browser's key, null when it has none
 * @returns {{state: string, device: object | null}} state is "none" when the key is not
 *   registered for this person (or there is no key)
 */
export function deviceStatus(devices, fingerprint) {
  const device = fingerprint ? devices.find((d) => d.fingerprint === fingerprint) ?? null : null;
  return { state: device ? device.state : "none", device };
}

/** Whether a viewer should stop trying after this error token. */
export function isFinalDeviceError(token) {
  return FINAL_DEVICE_ERRORS.includes(token);
}

/** Whether `token` is a broker error code about the device (so the viewer shows it as is). */
export function isDeviceError(token) {
  return typeof token === "string" && /^device_[a-z_]{1,30}$/.test(token);
}

/**
 * The first 32 bits of a fingerprint as "ABCD-EF01": shown to the person on the host list
 * and to the admin in the console, so a device can be matched by phone before approval.
 */
export function shortFingerprint(fingerprint) {
  const text = String(fingerprint ?? "");
  if (!FINGERPRINT.test(text)) return "—";
  return `${text.slice(0, 4)}-${text.slice(4, 8)}`.toUpperCase();
}
