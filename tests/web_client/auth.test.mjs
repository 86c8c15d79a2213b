// web_client/core: sign-in screens per session state, API error messages, the password
// hint, enrollment routes, WebAuthn JSON conversion.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { describeError, errorKey, formatRecoveryCodes, passwordHint, screenFor } from "../../web_client/core/auth.js";
import { hasKey, t } from "../../web_client/core/i18n.js";
import { CONSOLE_PAGES, parseRoute } from "../../web_client/core/route.js";
import {
  creationOptionsFromJSON,
  credentialToJSON,
  fromBase64url,
  requestOptionsFromJSON,
  toBase64url,
} from "../../web_client/core/webauthn.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

const active = (role = "doctor") => ({ state: "active", user: { role } });

test("signed out, every route shows the login; an enrollment link shows enrollment", () => {
  for (const hash of ["#/", "#/host/pc-1", "#/account", "#/admin", "#/mfa"]) {
    assert.equal(screenFor(parseRoute(hash), { state: "anonymous" }), "login", hash);
  }
  assert.equal(screenFor(parseRoute("#/enroll/abcdefghijklmnopqrstuvwxyz"), null), "enroll");
});

test("with only a password, nothing but the second factor shows (MFA is mandatory)", () => {
  for (const hash of ["#/", "#/host/pc-1", "#/account", "#/admin", "#/login"]) {
    assert.equal(screenFor(parseRoute(hash), { state: "mfa" }), "mfa", hash);
  }
});

test("while enrolling, only enrollment shows", () => {
  for (const hash of ["#/", "#/host/pc-1", "#/account", "#/admin"]) {
    assert.equal(screenFor(parseRoute(hash), { state: "enroll" }), "enroll", hash);
  }
});

test("after MFA the route decides; the admin page only for admins", () => {
  assert.equal(screenFor(parseRoute("#/host/pc-1"), active()), "viewer");
  assert.equal(screenFor(parseRoute("#/account"), active()), "account");
  assert.equal(screenFor(parseRoute("#/admin"), active("doctor")), "hosts");
  assert.equal(screenFor(parseRoute("#/admin"), active("admin")), "admin");
  assert.equal(screenFor(parseRoute("#/login"), active()), "hosts");
  assert.equal(screenFor(parseRoute("#/enroll/abcdefghijklmnopqrstuvwxyz"), active()), "hosts");
});

test("an unknown session state counts as signed out", () => {
  assert.equal(screenFor(parseRoute("#/"), { state: "root" }), "login");
});

test("enrollment routes carry the token; malformed ones are the host list", () => {
  assert.deepEqual(parseRoute("#/enroll/AbC_-0123456789abcdefg"), { name: "enroll", token: "AbC_-0123456789abcdefg" });
  assert.deepEqual(parseRoute("#/enroll/short"), { name: "hosts" });
  assert.deepEqual(parseRoute("#/enroll/<script>aaaaaaaaaaaaaaaaaaaa"), { name: "hosts" });
  assert.deepEqual(parseRoute("#/account"), { name: "account" });
  assert.deepEqual(parseRoute("#/admin/"), { name: "admin", page: CONSOLE_PAGES[0] });
});

test("console pages route by name; an unknown page is the console's first page", () => {
  for (const page of CONSOLE_PAGES) {
    assert.deepEqual(parseRoute(`#/admin/${page}`), { name: "admin", page });
  }
  assert.deepEqual(parseRoute("#/admin/no-such-page"), { name: "admin", page: CONSOLE_PAGES[0] });
  assert.deepEqual(parseRoute("#/admin/users/x"), { name: "hosts" });
});

test("API errors map to messages; odd bodies to generic ones", () => {
  assert.equal(errorKey(401, { error: "invalid_credentials" }), "api.invalid_credentials");
  assert.equal(errorKey(0, null), "api.network");
  assert.equal(errorKey(502, "<html>"), "api.server");
  assert.equal(errorKey(400, { error: "<b>" }), "api.unknown");
});

test("every error code the broker can send has a message in both languages", () => {
  const codes = new Set();
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".py")) {
        const source = readFileSync(path, "utf8");
        for (const [, code] of source.matchAll(/code="([a-z_]+)"/g)) codes.add(code);
      }
    }
  };
  walk(join(ROOT, "broker"));
  for (const reason of ["too_short", "too_long", "too_simple", "common", "username", "reused"]) {
    codes.add(`password_${reason}`);
  }
  for (const base of ["bad_request", "not_signed_in", "forbidden", "not_found", "conflict", "locked", "invalid_request"]) {
    codes.add(base);
  }
  assert.ok(codes.size > 20, [...codes].join(" "));
  for (const code of codes) {
    assert.ok(hasKey(`api.${code}`), `api.${code}`);
    assert.notEqual(t(`api.${code}`, {}, "en"), t(`api.${code}`, {}, "ja"), code);
  }
});

test("the password hint mirrors the broker's length and kinds rule", () => {
  assert.equal(passwordHint("Ky#2024"), "password.rule");
  assert.equal(passwordHint("Kyoto#2024"), null);
  assert.equal(passwordHint("kyotoclinic24"), null); // 13 characters
  assert.equal(passwordHint("kyotoclinic2"), "password.rule");
  assert.equal(passwordHint("ｋｙｏｔｏ＃２０２４"), null); // full width, NFKC
  assert.equal(passwordHint("診察室の鍵-2024"), null);
  assert.equal(passwordHint("x".repeat(129)), "password.tooLong");
});

test("recovery codes shown are only well-formed ones", () => {
  assert.deepEqual(formatRecoveryCodes(["7KQ2-M9XD-4HTR-0BPV", "<img>", 5]), ["7KQ2-M9XD-4HTR-0BPV"]);
  assert.deepEqual(formatRecoveryCodes(null), []);
});

test("base64url round-trips any bytes", () => {
  const bytes = new Uint8Array(256).map((_, i) => i);
  assert.deepEqual(fromBase64url(toBase64url(bytes)), bytes);
  assert.equal(toBase64url(new Uint8Array([251, 255])), "-_8");
  assert.throws(() => fromBase64url("not base64!"));
});

test("WebAuthn options from JSON turn ids and challenges into bytes", () => {
  const creation = creationOptionsFromJSON({
    challenge: "AAEC",
    rp: { id: "localhost", name: "Mamori" },
    user: { id: "AwQ", name: "tanaka", displayName: "田中" },
    pubKeyCredParams: [{ type: "public-key", alg: -7 }],
    excludeCredentials: [{ type: "public-key", id: "BQY" }],
  });
  assert.deepEqual([...creation.challenge], [0, 1, 2]);
  assert.deepEqual([...creation.user.id], [3, 4]);
  assert.deepEqual([...creation.excludeCredentials[0].id], [5, 6]);
  assert.equal(creation.rp.id, "localhost");
  const request = requestOptionsFromJSON({ challenge: "AAEC", allowCredentials: [{ type: "public-key", id: "BQY" }] });
  assert.deepEqual([...request.allowCredentials[0].id], [5, 6]);
  assert.throws(() => creationOptionsFromJSON({}));
  assert.throws(() => requestOptionsFromJSON(null));
});

test("a credential becomes the JSON the broker verifies", () => {
  const buffer = (bytes) => new Uint8Array(bytes).buffer;
  const json = credentialToJSON({
    id: "BQY",
    rawId: buffer([5, 6]),
    type: "public-key",
    authenticatorAttachment: "platform",
    getClientExtensionResults: () => ({}),
    response: {
      clientDataJSON: buffer([1]),
      authenticatorData: buffer([2]),
      signature: buffer([3]),
      userHandle: buffer([4]),
    },
  });
  assert.deepEqual(json, {
    id: "BQY",
    rawId: "BQY",
    type: "public-key",
    response: { clientDataJSON: "AQ", authenticatorData: "Ag", signature: "Aw", userHandle: "BA" },
    authenticatorAttachment: "platform",
    clientExtensionResults: {},
  });
});

test("a lock names its length at once, in both languages", () => {
  const locked = describeError(429, { error: "locked", message: "x", retry_after_s: 900 });
  assert.deepEqual(locked, { key: "api.locked_for", params: { minutes: 15 } });
  assert.match(t(locked.key, locked.params, "ja"), /15 分間ロック/);
  assert.match(t(locked.key, locked.params, "en"), /locked for 15 minutes/);
  const limited = describeError(429, { error: "rate_limited", message: "x", retry_after_s: 61 });
  assert.deepEqual(limited, { key: "api.rate_limited", params: { minutes: 2 } });
  assert.doesNotMatch(t(limited.key, limited.params, "en"), /[{}]/);
  // Without a length the generic text stays (nothing left as "{minutes}").
  assert.deepEqual(describeError(429, { error: "locked" }), { key: "api.locked", params: {} });
  assert.deepEqual(describeError(401, { error: "mfa_failed", retry_after_s: "soon" }).params, {});
});
