// web_client/core: backoff, reconnect policy, i18n, routes, codec order, stats summary.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  backoffDelay,
  DEFAULT_CAP_MS,
  DEFAULT_MIN_MS,
  reconnectPolicy,
  SLOW_RETRY_MIN_MS,
} from "../../web_client/core/backoff.js";
import { preferH264 } from "../../web_client/core/codecs.js";
import {
  DICTIONARIES,
  getLanguage,
  hasKey,
  normalizeLanguage,
  otherLanguage,
  setLanguage,
  t,
  translate,
  translateError,
} from "../../web_client/core/i18n.js";
import {
  consoleHref,
  pageHref,
  pageOf,
  parseRoute,
  viewerHash,
  viewerHref,
} from "../../web_client/core/route.js";
import { summarizeStats } from "../../web_client/core/stats.js";

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), "../../web_client");

// ---- backoff ---------------------------------------------------------------------------

test("backoff never goes below the floor nor above the cap, for any attempt and draw", () => {
  for (let attempt = 0; attempt < 60; attempt += 1) {
    for (const r of [0, 0.25, 0.5, 0.999999]) {
      const d = backoffDelay(attempt, () => r);
      assert.ok(d >= DEFAULT_MIN_MS && d <= DEFAULT_CAP_MS, `attempt ${attempt} r ${r}: ${d}`);
      assert.ok(Number.isInteger(d));
    }
  }
});

test("backoff's ceiling doubles per attempt from the base until the cap", () => {
  const top = (attempt) => backoffDelay(attempt, () => 0.999999999, { baseMs: 1000, capMs: 30_000, minMs: 0 });
  assert.equal(top(0), 999);
  assert.equal(top(1), 1999);
  assert.equal(top(3), 7999);
  assert.equal(top(5), 29_999);
  assert.equal(top(50), 29_999);
});

test("backoff is full jitter: the draw spreads the delay over the whole range", () => {
  assert.equal(backoffDelay(4, () => 0, { minMs: 0 }), 0);
  assert.equal(backoffDelay(4, () => 0.5, { minMs: 0 }), 8000);
});

test("a 5 s floor holds however small the draw or the attempt", () => {
  for (const attempt of [0, 1, 2, 10]) {
    assert.ok(backoffDelay(attempt, () => 0, { minMs: SLOW_RETRY_MIN_MS }) >= 5000);
    assert.ok(backoffDelay(attempt, () => 0.9, { minMs: SLOW_RETRY_MIN_MS }) <= DEFAULT_CAP_MS);
  }
});

test("a broken random source or attempt number still gives a bounded delay", () => {
  for (const r of [Number.NaN, -1, 2, undefined]) {
    const d = backoffDelay(3, () => r);
    assert.ok(d >= DEFAULT_MIN_MS && d <= DEFAULT_CAP_MS);
  }
  assert.equal(backoffDelay(-5, () => 0.999999, { minMs: 0 }), backoffDelay(0, () => 0.999999, { minMs: 0 }));
  assert.ok(backoffDelay(Number.POSITIVE_INFINITY, () => 0.5) <= DEFAULT_CAP_MS);
});

test("unknown_host and host_busy retry no sooner than every 5 s", () => {
  assert.deepEqual(reconnectPolicy("unknown_host"), { state: "error", retry: true, minMs: 5000 });
  assert.deepEqual(reconnectPolicy("host_busy"), { state: "error", retry: true, minMs: 5000 });
});

test("host_disconnected reconnects on its own and shows its own state", () => {
  const policy = reconnectPolicy("host_disconnected");
  assert.equal(policy.state, "host_disconnected");
  assert.ok(policy.retry);
});

test("unauthorized never retries on its own", () => {
  assert.equal(reconnectPolicy("unauthorized").retry, false);
});

test("network and peer failures show disconnected and retry; protocol errors show error and retry", () => {
  assert.equal(reconnectPolicy("network").state, "disconnected");
  assert.equal(reconnectPolicy("peer_failed").state, "disconnected");
  for (const token of ["malformed", "too_big", "unknown_type", "unexpected", "whatever"]) {
    assert.deepEqual(reconnectPolicy(token), { state: "error", retry: true, minMs: DEFAULT_MIN_MS });
  }
});

// ---- i18n ------------------------------------------------------------------------------

test("Japanese is the default and unknown languages fall back to it", () => {
  assert.equal(normalizeLanguage(null), "ja");
  assert.equal(normalizeLanguage("fr"), "ja");
  assert.equal(normalizeLanguage(""), "ja");
  assert.equal(normalizeLanguage("en-US"), "en");
  assert.equal(normalizeLanguage("EN"), "en");
  assert.equal(setLanguage("de"), "ja");
  assert.equal(getLanguage(), "ja");
});

test("the language switch goes to the other language", () => {
  assert.equal(otherLanguage("ja"), "en");
  assert.equal(otherLanguage("en"), "ja");
});

test("t translates in the current language", () => {
  setLanguage("ja");
  assert.equal(t("state.connecting"), "接続中…");
  setLanguage("en");
  assert.equal(t("state.connecting"), "Connecting…");
  setLanguage("ja");
});

test("connection states have the Japanese wording of the status bar", () => {
  assert.equal(t("state.connected", {}, "ja"), "接続しました");
  assert.equal(t("state.host_disconnected", {}, "ja"), "ホストとの接続が切れました");
  assert.equal(t("viewer.reconnect", {}, "ja"), "再接続");
});

test("t fills placeholders and leaves missing ones visible", () => {
  assert.equal(t("viewer.retryIn", { seconds: 5 }, "ja"), "5 秒後に自動で再接続します。");
  assert.equal(t("viewer.retryIn", {}, "en"), "Reconnecting automatically in {seconds} s.");
});

test("a placeholder value is inserted as text, not re-expanded", () => {
  assert.equal(t("hosts.openLabel", { name: "{name}$&" }, "en"), "Connect to {name}$&");
});

test("a key missing in English falls back to Japanese, then to the key itself", () => {
  const dicts = { ja: { a: "あ", b: "い" }, en: { a: "A" } };
  assert.equal(translate(dicts, "en", "a"), "A");
  assert.equal(translate(dicts, "en", "b"), "い");
  assert.equal(translate(dicts, "en", "c"), "c");
  assert.equal(t("no.such.key", {}, "en"), "no.such.key");
  assert.equal(hasKey("no.such.key"), false);
});

test("an unsupported language reads the Japanese dictionary", () => {
  assert.equal(translate({ ja: { a: "あ" }, en: { a: "A" } }, "fr", "a"), "あ");
});

test("inherited property names are not translation keys", () => {
  assert.equal(t("constructor", {}, "en"), "constructor");
  assert.equal(t("hosts.openLabel", { toString: "x" }, "en"), "Connect to {name}");
});

test("English and Japanese have the same keys", () => {
  assert.deepEqual(Object.keys(DICTIONARIES.en).sort(), Object.keys(DICTIONARIES.ja).sort());
});

test("every broker error token has a translation in both languages", () => {
  for (const code of ["unknown_host", "host_busy", "host_disconnected", "unauthorized", "malformed", "too_big", "unknown_type", "unexpected", "not_in_session"]) {
    for (const lang of ["ja", "en"]) {
      assert.notEqual(translateError(code, lang), t("error.unknown", { code }, lang), `${lang} ${code}`);
    }
  }
  assert.equal(translateError("host_busy", "ja"), "この端末はほかの方が使用中です。");
});

test("an unknown error token shows the generic message naming it", () => {
  assert.equal(translateError("solar_flare", "en"), "An error occurred (solar_flare).");
  assert.equal(translateError("constructor", "en"), "An error occurred (constructor).");
});

test("every connection state has a label", () => {
  for (const state of ["idle", "connecting", "connected", "host_disconnected", "disconnected", "ended", "error", "closed"]) {
    assert.ok(hasKey(`state.${state}`), state);
  }
});

const PAGES = readdirSync(WEB).filter((f) => f.endsWith(".html"));

test("every data-i18n key of every page exists", () => {
  assert.deepEqual(PAGES.sort(), ["console.html", "index.html", "viewer.html"]);
  for (const page of PAGES) {
    const html = readFileSync(join(WEB, page), "utf8");
    const keys = [...html.matchAll(/data-i18n(?:-label)?="([^"]+)"/g)].map((m) => m[1]);
    assert.ok(keys.length > 0, page);
    for (const key of keys) assert.ok(hasKey(key), `${page}: ${key}`);
  }
});

test("every t() key used by the app exists", () => {
  for (const file of readdirSync(join(WEB, "app"))) {
    const source = readFileSync(join(WEB, "app", file), "utf8");
    for (const [, key] of source.matchAll(/\bt\("([a-zA-Z_.]+)"/g)) assert.ok(hasKey(key), `${file}: ${key}`);
  }
});

// ---- routes ----------------------------------------------------------------------------

test("#/ and an empty hash are the host list", () => {
  assert.deepEqual(parseRoute(""), { name: "hosts" });
  assert.deepEqual(parseRoute("#/"), { name: "hosts" });
  assert.deepEqual(parseRoute("#/nowhere"), { name: "hosts" });
});

test("#/host/<id> opens the viewer on that host", () => {
  assert.deepEqual(parseRoute("#/host/reception-pc"), { name: "viewer", hostId: "reception-pc" });
  assert.deepEqual(parseRoute(viewerHash("pc-2")), { name: "viewer", hostId: "pc-2" });
});

test("a host id the broker would refuse falls back to the list", () => {
  assert.deepEqual(parseRoute("#/host/Bad_Id"), { name: "hosts" });
  assert.deepEqual(parseRoute("#/host/%E0%A4%A"), { name: "hosts" });
  assert.deepEqual(parseRoute("#/host/a/b"), { name: "hosts" });
});

test("each screen has one page: the viewer and the console their own, the rest index.html", () => {
  assert.equal(pageOf("viewer"), "viewer");
  assert.equal(pageOf("admin"), "console");
  for (const screen of ["login", "mfa", "enroll", "hosts", "account"]) assert.equal(pageOf(screen), "index");
});

test("a route moves to another page with its hash, so old links keep working", () => {
  assert.equal(pageHref("index", "#/enroll/abc"), "./#/enroll/abc");
  assert.equal(pageHref("viewer", "#/host/pc-1"), "viewer.html#/host/pc-1");
  assert.equal(pageHref("console", "/admin/alerts"), "console.html#/admin/alerts");
  assert.equal(pageHref("index", ""), "./");
  assert.equal(viewerHref("pc-2"), "viewer.html#/host/pc-2");
  assert.equal(consoleHref("devices"), "console.html#/admin/devices");
  assert.equal(consoleHref(), "console.html#/admin/dashboard");
  // The route a page is handed parses as it did on the one page.
  assert.deepEqual(parseRoute(viewerHref("pc-2").split("#")[1]), { name: "viewer", hostId: "pc-2" });
});

// ---- codecs ----------------------------------------------------------------------------

test("H.264 goes first (packetization-mode 1 before 0), then VP8, RTX, RED, ULPFEC; others dropped", () => {
  const codecs = [
    { mimeType: "video/VP8" },
    { mimeType: "video/rtx", sdpFmtpLine: "apt=96" },
    { mimeType: "video/VP9", sdpFmtpLine: "profile-id=0" },
    { mimeType: "video/H264", sdpFmtpLine: "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f" },
    { mimeType: "video/H264", sdpFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f" },
    { mimeType: "video/AV1" },
    { mimeType: "video/ulpfec" },
    { mimeType: "video/flexfec-03" },
    { mimeType: "video/red" },
    { mimeType: "video/H264", sdpFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" },
  ];
  const order = preferH264(codecs);
  assert.deepEqual(order.map((c) => c.mimeType), [
    "video/H264", "video/H264", "video/H264", "video/VP8", "video/rtx", "video/red", "video/ulpfec",
  ]);
  assert.match(order[0].sdpFmtpLine, /packetization-mode=1;profile-level-id=42001f/);
  assert.match(order[1].sdpFmtpLine, /42e01f/);
  assert.match(order[2].sdpFmtpLine, /packetization-mode=0/);
});

test("without H.264 the browser's order is left alone", () => {
  assert.equal(preferH264([{ mimeType: "video/VP8" }]), null);
  assert.equal(preferH264(undefined), null);
});

// ---- stats -----------------------------------------------------------------------------

function report({ t, bytes, frames, fps }) {
  return [
    { id: "IT1", type: "inbound-rtp", kind: "video", timestamp: t, bytesReceived: bytes, framesDecoded: frames, framesPerSecond: fps, framesDropped: 2, frameWidth: 1920, frameHeight: 1080, codecId: "C1", packetsLost: 0, jitterBufferDelay: 0.5, jitterBufferEmittedCount: 50 },
    { id: "C1", type: "codec", mimeType: "video/H264" },
    { id: "T1", type: "transport", selectedCandidatePairId: "P1" },
    { id: "P0", type: "candidate-pair", currentRoundTripTime: 0.5 },
    { id: "P1", type: "candidate-pair", currentRoundTripTime: 0.0123 },
  ];
}

test("stats read codec, resolution, drops, round trip and jitter buffer from one report", () => {
  const s = summarizeStats(report({ t: 1000, bytes: 0, frames: 0, fps: 30 }), null);
  assert.equal(s.codec, "video/H264");
  assert.equal(s.width, 1920);
  assert.equal(s.height, 1080);
  assert.equal(s.framesDropped, 2);
  assert.equal(s.rttMs, 12);
  assert.equal(s.fps, 30);
  assert.equal(s.jitterBufferMs, 10);
  assert.equal(s.bitrateKbps, null);
});

test("stats name the selected pair's candidate types and this end's relay protocol", () => {
  const reports = [
    ...report({ t: 1000, bytes: 0, frames: 0 }),
    { id: "P2", type: "candidate-pair", localCandidateId: "L1", remoteCandidateId: "R1" },
    { id: "L1", type: "local-candidate", candidateType: "relay", relayProtocol: "tls" },
    { id: "R1", type: "remote-candidate", candidateType: "srflx" },
  ].map((r) => (r.id === "T1" ? { ...r, selectedCandidatePairId: "P2" } : r));
  const s = summarizeStats(reports, null);
  assert.equal(s.localCandidateType, "relay");
  assert.equal(s.remoteCandidateType, "srflx");
  assert.equal(s.relayProtocol, "tls");
  assert.equal(summarizeStats(report({ t: 1, bytes: 0, frames: 0 }), null).localCandidateType, null);
});

test("stats compute bitrate from the bytes delta and fps from decoded frames when absent", () => {
  const first = summarizeStats(report({ t: 1000, bytes: 0, frames: 0 }), null);
  const second = summarizeStats(report({ t: 3000, bytes: 250_000, frames: 50 }), first);
  assert.equal(second.bitrateKbps, 1000);
  assert.equal(second.fps, 25);
});

test("stats with no video yet are all null, not zero", () => {
  const s = summarizeStats([], null, 5);
  assert.equal(s.fps, null);
  assert.equal(s.codec, null);
  assert.equal(s.rttMs, null);
  assert.equal(s.timestamp, 5);
});

// ---- host list parsing (core/host_list.js) ---------------------------------------------

test("the host list keeps well-formed hosts and drops malformed or duplicate ones", async () => {
  const { readHosts } = await import("../../web_client/core/host_list.js");
  const control = { mode: "control", refusal: null, closes_at: null, request: null };
  const hosts = readHosts({
    hosts: [
      { host_id: "reception-pc", name: "受付 PC", busy: false, ...control },
      { host_id: "exam-1", name: "診察室 1", busy: true, ...control },
      { host_id: "exam-1", name: "dup", busy: false, ...control },
      { host_id: "Bad Id", name: "x", busy: false, ...control },
      { host_id: "no-name", ...control },
      null,
      "pc",
    ],
  });
  const open = { mode: "control", refusal: null, closesAt: null, request: null };
  assert.deepEqual(hosts, [
    { hostId: "reception-pc", name: "受付 PC", busy: false, ...open },
    { hostId: "exam-1", name: "診察室 1", busy: true, ...open },
    { hostId: "no-name", name: "no-name", busy: false, ...open },
  ]);
});

test("each host carries what a session now would be; unknown access is not listed", async () => {
  const { readHosts, readZone } = await import("../../web_client/core/host_list.js");
  const hosts = readHosts({
    hosts: [
      { host_id: "a", name: "A", busy: false, mode: "view", refusal: null, closes_at: "2026-11-25T14:00:00Z", request: null },
      { host_id: "b", name: "B", busy: false, mode: null, refusal: "outside_window", closes_at: null, request: null },
      {
        host_id: "c", name: "C", busy: false, mode: null, refusal: "vendor_not_approved", closes_at: null,
        request: { id: 3, state: "pending", expires_at: "2026-11-26T01:00:00Z" },
      },
      { host_id: "d", name: "D", busy: false, mode: "root", refusal: null },
      { host_id: "e", name: "E", busy: false },
      { host_id: "f", name: "F", busy: false, mode: null, refusal: "vendor_not_approved", request: { id: "3", state: "pending" } },
    ],
  });
  assert.deepEqual(hosts.map((h) => [h.hostId, h.mode, h.refusal, h.request?.state ?? null]), [
    ["a", "view", null, null],
    ["b", null, "outside_window", null],
    ["c", null, "vendor_not_approved", "pending"],
    ["f", null, "vendor_not_approved", null],
  ]);
  assert.equal(hosts[0].closesAt.toISOString(), "2026-11-25T14:00:00.000Z");
  assert.equal(readZone({ time_zone: "America/New_York" }), "America/New_York");
  assert.equal(readZone({ time_zone: "<script>" }), null);
  assert.equal(readZone({}), null);
});

test("a body that is not a host list is refused as a whole", async () => {
  const { readHosts } = await import("../../web_client/core/host_list.js");
  assert.equal(readHosts(null), null);
  assert.equal(readHosts({ hosts: "x" }), null);
  assert.deepEqual(readHosts({ hosts: [] }), []);
});

test("the client's files carry no inline script, inline style or event-handler attribute", () => {
  const files = [
    ...PAGES,
    ...readdirSync(join(WEB, "css")).map((f) => `css/${f}`),
    ...readdirSync(join(WEB, "app")).map((f) => `app/${f}`),
    ...readdirSync(join(WEB, "core")).map((f) => `core/${f}`),
  ];
  for (const file of files) {
    const source = readFileSync(join(WEB, file), "utf8");
    assert.doesNotMatch(source, /\sstyle=|\son[a-z]+=|innerHTML|insertAdjacentHTML|eval\(|new Function/, file);
    assert.doesNotMatch(source, /<script(?![^>]*\bsrc=)/, file);
  }
});

test("core modules never touch the DOM", () => {
  for (const file of readdirSync(join(WEB, "core"))) {
    const source = readFileSync(join(WEB, "core", file), "utf8");
    assert.doesNotMatch(source, /\b(document|window|localStorage|navigator)\./, file);
  }
});

test("source network lists: one network a line, each checked, at most the broker's limit", async () => {
  const { readNetworks, validNetwork } = await import("../../web_client/core/source_networks.js");
  for (const good of ["192.0.2.0/24", "192.0.2.7", "0.0.0.0/0", "2001:db8::/48", "2001:db8::1", "::/0", "::ffff:192.0.2.1"]) {
    assert.equal(validNetwork(good), true, good);
  }
  for (const bad of ["192.0.2.300/24", "192.0.2.0/33", "192.0.2/24", "2001:db8::/129", "2001:db8:::1", "example.org", "10.0.0.0/8/8", "", "1.2.3.4/ 8"]) {
    assert.equal(validNetwork(bad), false, bad);
  }
  assert.deepEqual(readNetworks(" 192.0.2.0/24\n\n2001:db8::/48\r\n192.0.2.0/24\n", 32), {
    ok: true,
    networks: ["192.0.2.0/24", "2001:db8::/48"],
  });
  assert.deepEqual(readNetworks("", 32), { ok: true, networks: [] });
  assert.deepEqual(readNetworks("192.0.2.0/24\nnope", 32), { ok: false, error: "sources.invalid", params: { entry: "nope" } });
  const many = Array.from({ length: 4 }, (_, i) => `198.51.100.${i}`).join("\n");
  assert.deepEqual(readNetworks(many, 3), { ok: false, error: "sources.tooMany", params: { max: 3 } });
});
