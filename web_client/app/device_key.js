/**
 * This browser's viewing-device key: made once with WebCrypto (ECDSA P-256, the private key
 * NOT extractable: no script, ours included, can read it out), kept as a CryptoKey in
 * IndexedDB (database "mamori", store "device-keys"), registered with the broker, and used
 * to sign the broker's challenge before every viewer session (core/device_proof.js).
 *
 * A stolen session cookie is worth nothing in another browser: it has no such key, and a
 * key it makes is a new device that an admin has not approved.
 *
 * One key per person per browser profile (the record is keyed by the user id), so people
 * sharing a browser each register and are approved separately, and one person starting
 * over after a denial does not take another's approved key away.
 */

import {
  challengeMessage,
  deviceStatus,
  fingerprintOf,
  isDeviceError,
  publicJwk,
  readOwnDevices,
} from "../core/device_proof.js";
import { toBase64url } from "../core/webauthn.js";
import { call, loadSession } from "./api.js";

const DB_NAME = "mamori";
const DB_VERSION = 1;
const STORE = "device-keys";
// IndexedDB key of a person's record.
const recordKey = (userId) => `user:${userId}`;
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256" };
const SIGNATURE = { name: "ECDSA", hash: "SHA-256" };

/** This browser cannot hold a device key (no IndexedDB or WebCrypto, e.g. some private modes). */
export class DeviceUnsupported extends Error {}

function supported() {
  return Boolean(globalThis.indexedDB && globalThis.crypto?.subtle && globalThis.isSecureContext);
}

function openDb() {
  return new Promise((resolve, reject) => {
    let request;
    try {
      request = globalThis.indexedDB.open(DB_NAME, DB_VERSION);
    } catch (err) {
      reject(new DeviceUnsupported(String(err)));
      return;
    }
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new DeviceUnsupported(String(request.error)));
    request.onblocked = () => reject(new DeviceUnsupported("IndexedDB is blocked"));
  });
}

async function withStore(mode, action) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = action(tx.objectStore(STORE));
      let result;
      request.onsuccess = () => {
        result = request.result;
      };
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(new DeviceUnsupported(String(tx.error)));
      tx.onabort = () => reject(new DeviceUnsupported(String(tx.error)));
    });
  } finally {
    db.close();
  }
}

function wellFormed(record) {
  return (
    record &&
    typeof record === "object" &&
    record.privateKey instanceof CryptoKey &&
    record.privateKey.extractable === false &&
    typeof record.fingerprint === "string" &&
    record.jwk &&
    typeof record.jwk === "object"
  );
}

/**
 * ``userId``'s key record in this browser ({privateKey, publicKey, jwk, fingerprint}), or
 * null if they have none here yet.
 * @throws {DeviceUnsupported}
 */
export async function loadDeviceKey(userId) {
  if (!supported()) throw new DeviceUnsupported("no IndexedDB or WebCrypto here");
  const record = await withStore("readonly", (store) => store.get(recordKey(userId)));
  return wellFormed(record) ? record : null;
}

/**
 * Make a new key pair for ``userId`` (replacing their earlier one) and keep it.
 * @throws {DeviceUnsupported}
 */
export async function createDeviceKey(userId) {
  if (!supported()) throw new DeviceUnsupported("no IndexedDB or WebCrypto here");
  // extractable = false: the private key can sign but can never be exported.
  const pair = await crypto.subtle.generateKey(ALGORITHM, false, ["sign", "verify"]);
  const jwk = publicJwk(await crypto.subtle.exportKey("jwk", pair.publicKey));
  const fingerprint = await fingerprintOf(await crypto.subtle.exportKey("spki", pair.publicKey));
  const record = { privateKey: pair.privateKey, publicKey: pair.publicKey, jwk, fingerprint, createdAt: Date.now() };
  await withStore("readwrite", (store) => store.put(record, recordKey(userId)));
  return record;
}

/**
 * Register this browser for the signed-in person ``userId`` (pending an admin's approval).
 * @param {number} userId
 * @param {string} label the name the person gave it
 * @param {{fresh?: boolean}} [options] fresh: make a new key first (after a denial or
 *   revocation the old key can never be approved again)
 * @returns {Promise<{status: number, body: any}>} the broker's answer
 */
export async function registerDevice(userId, label, options = {}) {
  let record = options.fresh ? null : await loadDeviceKey(userId);
  if (!record) record = await createDeviceKey(userId);
  return call("POST", "/api/devices", { label, public_key: record.jwk });
}

/**
 * What the broker decided about this browser for the signed-in person.
 * @returns {Promise<{state: string, userId?: number, device?: object}>} state: none (no
 *   key, or not registered for this person), pending, approved, denied, revoked,
 *   unsupported, unauthorized (not signed in) or error
 */
export async function deviceState() {
  if (!supported()) return { state: "unsupported" };
  const { status, body } = await call("GET", "/api/devices", undefined, { background: true });
  if (status === 401) return { state: "unauthorized" };
  const devices = status === 200 ? readOwnDevices(body) : null;
  if (devices === null || !Number.isInteger(body.user_id)) return { state: "error" };
  const userId = body.user_id;
  let record;
  try {
    record = await loadDeviceKey(userId);
  } catch (err) {
    if (err instanceof DeviceUnsupported) return { state: "unsupported" };
    throw err;
  }
  return { ...deviceStatus(devices, record?.fingerprint ?? null), userId };
}

/**
 * Answer a fresh broker challenge for a viewer session on `hostId`.
 * @returns {Promise<{proof: {device: string, challenge: string, signature: string}} |
 *   {error: string}>} error is a token the viewer translates (error.<token>)
 */
export async function proveDevice(hostId) {
  const session = await loadSession();
  // Sent back to the second factor by the broker (idle clear-screen): no ticket until then.
  if (session.state === "mfa") return { error: "reauth_required" };
  if (session.state !== "active" || !Number.isInteger(session.user?.id)) return { error: "unauthorized" };
  let record;
  try {
    record = await loadDeviceKey(session.user.id);
  } catch (err) {
    if (err instanceof DeviceUnsupported) return { error: "device_unsupported" };
    throw err;
  }
  if (!record) return { error: "device_unregistered" };
  const { status, body } = await call("POST", "/api/viewer-challenges", {
    host_id: hostId,
    device: record.fingerprint,
  });
  if (status !== 201 || typeof body?.challenge !== "string") {
    if (isDeviceError(body?.error)) return { error: body.error };
    if (status === 401 || status === 403) return { error: "unauthorized" };
    return { error: status === 0 ? "network" : "unexpected" };
  }
  const signature = await crypto.subtle.sign(
    SIGNATURE,
    record.privateKey,
    challengeMessage(hostId, body.challenge),
  );
  return {
    proof: { device: record.fingerprint, challenge: body.challenge, signature: toBase64url(signature) },
  };
}
