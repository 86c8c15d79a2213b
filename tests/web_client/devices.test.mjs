// web_client/core/device_proof.js: what the device key signs and its fingerprint (checked
// against a vector the broker's Python made), default names, reading the broker's answers,
// the viewer's reconnect policy after a device refusal, and the words for each of them.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { reconnectPolicy } from "../../web_client/core/backoff.js";
import {
  challengeMessage,
  cleanLabel,
  defaultLabel,
  deviceStatus,
  FINAL_DEVICE_ERRORS,
  fingerprintOf,
  isDeviceError,
  isFinalDeviceError,
  publicJwk,
  readOwnDevices,
  shortFingerprint,
} from "../../web_client/core/device_proof.js";
import { hasKey, t } from "../../web_client/core/i18n.js";
import { CONSOLE_PAGES } from "../../web_client/core/route.js";
import { fromBase64url } from "../../web_client/core/webauthn.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

// Made by broker/devices/keys.py and device_challenges.py (tests/broker/
// test_device_challenges.py checks the same vector on the Python side).
const VECTOR = {
  jwk: {
    kty: "EC",
    crv: "P-256",
    x: "tbpaAnlWGoXYJZUteth_TfnC5U-R3Tkk823TAeH5TpU",
    y: "hqoL1oXW0XJCUsTlVn8u7e9UavrTTWuusADbnwN0pBg",
  },
  fingerprint: "d721a93f57b1000175d0d5fd59b6fec9ef8d00ebb193fe70f558e7620788ab1a",
  host: "clinic-pc-1",
  challenge: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
  signature: "vS0-2VALSyzmCeJ1TLKWBj2ivCdWLTvOOomDWNPBYR1-CcgvxeoI-n6NIFYNJKeytpS0N4f29woKmYRmYMtlbA",
};

const ECDSA = { name: "ECDSA", namedCurve: "P-256" };
const SHA256 = { name: "ECDSA", hash: "SHA-256" };

test("the signed message names the context, the host and the challenge", () => {
  const text = new TextDecoder().decode(challengeMessage("clinic-pc-1", "abc"));
  assert.equal(text, "mamori-viewer-challenge-v1\nclinic-pc-1\nabc");
});

test("WebCrypto's fingerprint of a key equals the broker's", async () => {
  const key = await crypto.subtle.importKey("jwk", VECTOR.jwk, ECDSA, true, ["verify"]);
  const spki = await crypto.subtle.exportKey("spki", key);
  assert.equal(await fingerprintOf(spki), VECTOR.fingerprint);
});

test("a signature the broker's format accepts verifies in WebCrypto over the same message", async () => {
  const key = await crypto.subtle.importKey("jwk", VECTOR.jwk, ECDSA, false, ["verify"]);
  const message = challengeMessage(VECTOR.host, VECTOR.challenge);
  const signature = fromBase64url(VECTOR.signature);
  assert.equal(signature.length, 64); // IEEE P1363 r || s, what the broker expects
  assert.equal(await crypto.subtle.verify(SHA256, key, signature, message), true);
  const otherHost = challengeMessage("other-pc", VECTOR.challenge);
  assert.equal(await crypto.subtle.verify(SHA256, key, signature, otherHost), false);
});

test("a non-extractable key signs 64-byte signatures and cannot be exported", async () => {
  const pair = await crypto.subtle.generateKey(ECDSA, false, ["sign", "verify"]);
  assert.equal(pair.privateKey.extractable, false);
  await assert.rejects(crypto.subtle.exportKey("jwk", pair.privateKey));
  const jwk = publicJwk(await crypto.subtle.exportKey("jwk", pair.publicKey));
  assert.deepEqual(Object.keys(jwk).sort(), ["crv", "kty", "x", "y"]);
  const signature = await crypto.subtle.sign(SHA256, pair.privateKey, challengeMessage("pc", "x"));
  assert.equal(signature.byteLength, 64);
});

test("a device's default name says browser and system", () => {
  const cases = [
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36", "Chrome / Windows"],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36 Edg/140.0", "Edge / Windows"],
    ["Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1", "Safari / iPhone"],
    ["Mozilla/5.0 (Macintosh; Intel Mac OS X 14.0; rv:130.0) Gecko/20100101 Firefox/130.0", "Firefox / Mac"],
    ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/140.0 Safari/537.36", "Chrome / Linux"],
    ["", "Browser"],
  ];
  for (const [ua, label] of cases) assert.equal(defaultLabel(ua), label, ua);
  assert.equal(cleanLabel("  自宅の PC "), "自宅の PC");
  assert.equal(cleanLabel("   "), null);
  assert.equal(cleanLabel("あ".repeat(65)), null);
});

test("the caller's devices are read defensively and matched by fingerprint", () => {
  const fp = "a".repeat(64);
  const devices = readOwnDevices({
    devices: [
      { id: 1, label: "家", state: "approved", fingerprint: fp },
      { id: 2, label: "x", state: "stolen", fingerprint: "b".repeat(64) },
      { id: "3", label: "x", state: "pending", fingerprint: "c".repeat(64) },
      { id: 4, label: "x", state: "pending", fingerprint: "<script>" },
      null,
    ],
  });
  assert.deepEqual(devices, [{ id: 1, label: "家", state: "approved", fingerprint: fp }]);
  assert.equal(readOwnDevices({}), null);
  assert.equal(deviceStatus(devices, fp).state, "approved");
  assert.equal(deviceStatus(devices, "d".repeat(64)).state, "none");
  assert.equal(deviceStatus(devices, null).state, "none");
  assert.equal(shortFingerprint(VECTOR.fingerprint), "D721-A93F");
  assert.equal(shortFingerprint("nope"), "—");
});

test("a viewer stops after a device refusal, but retries a late challenge", () => {
  for (const token of FINAL_DEVICE_ERRORS) {
    assert.equal(reconnectPolicy(token).retry, false, token);
    assert.equal(isFinalDeviceError(token), true);
  }
  assert.equal(reconnectPolicy("device_challenge").retry, true);
  assert.equal(isDeviceError("device_pending"), true);
  assert.equal(isDeviceError("unauthorized"), false);
  assert.equal(isDeviceError({}), false);
});

test("every device refusal, session end and API code has words in both languages", () => {
  const source = readFileSync(join(ROOT, "broker/api/devices.py"), "utf8")
    + readFileSync(join(ROOT, "broker/api/admin_devices.py"), "utf8")
    + readFileSync(join(ROOT, "broker/devices/register.py"), "utf8");
  const apiCodes = ["device_unknown", "device_pending", "device_denied", "device_revoked",
    "device_signature", "device_challenge", "device_key_invalid", "device_limit",
    "device_state", "self_approval"];
  for (const code of apiCodes) {
    const named = source.includes(`"${code}"`) || code.startsWith("device_") && ["pending", "denied", "revoked"].includes(code.slice(7));
    assert.ok(named, `${code} is not a broker code any more`);
    assert.ok(hasKey(`api.${code}`), `api.${code}`);
    assert.notEqual(t(`api.${code}`, {}, "en"), t(`api.${code}`, {}, "ja"), code);
  }
  for (const token of [...FINAL_DEVICE_ERRORS, "device_challenge"]) {
    assert.ok(hasKey(`error.${token}`), `error.${token}`);
    assert.notEqual(t(`error.${token}`, {}, "en"), t(`error.${token}`, {}, "ja"), token);
  }
  for (const reason of ["device_revoked", "account_disabled"]) {
    assert.ok(hasKey(`bye.${reason}`), reason);
    assert.notEqual(t(`bye.${reason}`, {}, "en"), t(`bye.${reason}`, {}, "ja"), reason);
  }
  for (const state of ["checking", "none", "pending", "approved", "denied", "revoked", "unsupported", "error"]) {
    assert.ok(hasKey(`device.${state}`), state);
  }
});

test("the console has a devices page with its menu link and block", () => {
  assert.ok(CONSOLE_PAGES.includes("devices"));
  const html = readFileSync(join(ROOT, "web_client/console.html"), "utf8");
  assert.match(html, /<a class="console-link" href="#\/admin\/devices" data-page="devices"/);
  assert.match(html, /<div id="console-devices" class="console-page" data-page="devices" hidden>/);
});
