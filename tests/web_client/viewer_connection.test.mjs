// web_client/core/viewer_connection.js (and its attempts, core/viewer_session.js): the
// viewer's signaling, peer connection, input channel and reconnects, driven with fakes of
// WebSocket, RTCPeerConnection and the timers. No DOM anywhere.
import assert from "node:assert/strict";
import { test } from "node:test";

import { DEFAULT_MIN_MS, SLOW_RETRY_MIN_MS } from "../../web_client/core/backoff.js";
import { hasKey } from "../../web_client/core/i18n.js";
import { CloseCode } from "../../web_client/core/protocol.js";
import { REJOIN_FALLBACK_MS, STATES, ViewerConnection } from "../../web_client/core/viewer_connection.js";
import { DISCONNECT_GRACE_MS, RESUME_WINDOW_MS } from "../../web_client/core/viewer_session.js";
import { PROBE_AFTER_MS, PROBE_EVERY_MS, STALL_MS, STALL_POLL_MS } from "../../web_client/core/path_watch.js";

const HOST = "reception-pc";
const OFFER_SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
const ANSWER_SDP = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
const CANDIDATE = "candidate:1 1 udp 2122260223 127.0.0.1 54400 typ host";

// ---- fakes -------------------------------------------------------------------------------

class Listeners {
  #map = new Map();
  addEventListener(type, fn) {
    if (!this.#map.has(type)) this.#map.set(type, []);
    this.#map.get(type).push(fn);
  }
  dispatch(type, event = {}) {
    for (const fn of this.#map.get(type) ?? []) fn(event);
  }
}

class FakeTimers {
  now = 0;
  #next = 1;
  #due = new Map();
  setTimeout = (fn, ms) => {
    const id = this.#next++;
    this.#due.set(id, { fn, at: this.now + ms });
    return id;
  };
  clearTimeout = (id) => {
    this.#due.delete(id);
  };
  get pending() {
    return this.#due.size;
  }
  /** Move the clock on by `ms`, running each timer that falls due, in order. */
  advance(ms) {
    const until = this.now + ms;
    for (;;) {
      const [id, timer] = [...this.#due].sort((a, b) => a[1].at - b[1].at)[0] ?? [];
      if (!timer || timer.at > until) break;
      this.#due.delete(id);
      this.now = timer.at;
      timer.fn();
    }
    this.now = until;
  }
}

class FakeSocket extends Listeners {
  static OPEN = 1;
  readyState = 0;
  sent = [];
  closedWith = null;
  constructor(url) {
    super();
    this.url = url;
    FakeSocket.made.push(this);
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  close(code) {
    if (this.readyState === 3) return;
    this.closedWith = code;
    this.readyState = 3;
  }
  /** The broker accepted the upgrade. */
  accept() {
    this.readyState = 1;
    this.dispatch("open");
  }
  receive(message) {
    this.dispatch("message", { data: typeof message === "string" ? message : JSON.stringify(message) });
  }
  /** The other end (or the network) closed the socket. */
  drop(code) {
    this.readyState = 3;
    this.dispatch("close", { code });
  }
  types() {
    return this.sent.map((m) => m.type);
  }
}

class FakeChannel extends Listeners {
  readyState = "connecting";
  bufferedAmount = 0;
  sent = [];
  constructor(label, options) {
    super();
    this.label = label;
    this.options = options;
  }
  send(text) {
    this.sent.push(text);
  }
  open() {
    this.readyState = "open";
    this.dispatch("open");
  }
  closeRemote() {
    this.readyState = "closed";
    this.dispatch("close");
  }
}

class FakePeer extends Listeners {
  signalingState = "stable";
  connectionState = "new";
  localDescription = null;
  remoteDescription = null;
  added = [];
  closed = false;
  preferred = null;
  bytesReceived = null; // the transport's, in getStats; null: no transport stats
  constructor(config) {
    super();
    this.config = config;
    FakePeer.made.push(this);
  }
  createDataChannel(label, options) {
    this.channel = new FakeChannel(label, options);
    return this.channel;
  }
  addTransceiver(kind, init) {
    this.transceiver = {
      kind,
      init,
      receiver: {},
      setCodecPreferences: (order) => {
        this.preferred = order;
      },
    };
    return this.transceiver;
  }
  async createOffer() {
    return { type: "offer", sdp: OFFER_SDP };
  }
  async setLocalDescription(description) {
    this.localDescription = description;
    this.signalingState = "have-local-offer";
  }
  async setRemoteDescription(description) {
    if (FakePeer.refuseAnswer) throw new Error("bad answer");
    this.remoteDescription = description;
    this.signalingState = "stable";
  }
  async addIceCandidate(init) {
    this.added.push(init);
  }
  async getStats() {
    const report = new Map();
    if (this.bytesReceived !== null) report.set("T1", { type: "transport", bytesReceived: this.bytesReceived });
    return report;
  }
  close() {
    this.closed = true;
    this.connectionState = "closed";
  }
  become(state) {
    this.connectionState = state;
    this.dispatch("connectionstatechange");
  }
  candidate(candidate) {
    this.dispatch("icecandidate", { candidate });
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

/** A connection on fakes, with every event it emits recorded. */
function harness({ grant = { ticket: "T".repeat(43), viewOnly: false }, signedIn = true, codecs } = {}) {
  FakeSocket.made = [];
  FakePeer.made = [];
  FakePeer.refuseAnswer = false;
  const timers = new FakeTimers();
  const asked = [];
  const connection = new ViewerConnection({
    fetchTicket: async (hostId) => {
      asked.push(hostId);
      return typeof grant === "function" ? grant(hostId) : grant;
    },
    socketUrl: (ticket) => `wss://broker.test/ws/viewer?ticket=${ticket}`,
    resumeUrl: () => "wss://broker.test/ws/viewer/resume",
    WebSocket: FakeSocket,
    RTCPeerConnection: FakePeer,
    isSignedIn: async () => signedIn,
    videoCodecs: () => codecs,
    timers,
    random: () => 0,
    now: () => timers.now,
  });
  const events = [];
  for (const type of ["state", "track", "blank", "input", "cursor", "cursorinvalid", "reauth", "monitors"]) {
    connection.on(type, (detail) => events.push({ type, ...detail }));
  }
  const states = () => events.filter((e) => e.type === "state").map((e) => (e.error ? `${e.state}:${e.error}` : e.state));
  return { connection, timers, asked, events, states, socket: () => FakeSocket.made.at(-1), peer: () => FakePeer.made.at(-1) };
}

/** Open HOST and go as far as a connected picture with an open input channel. */
async function connected(options) {
  const h = harness(options);
  h.connection.open(HOST);
  await flush();
  h.socket().accept();
  await flush();
  h.socket().receive({ type: "answer", sdp: ANSWER_SDP });
  await flush();
  h.peer().channel.open();
  h.peer().become("connected");
  return h;
}

// ---- tests -------------------------------------------------------------------------------

test("a session: ticket for the host, socket with the ticket, join, offer with an input channel", async () => {
  const h = harness();
  h.connection.open(HOST);
  assert.equal(h.connection.state, "connecting");
  await flush();
  assert.deepEqual(h.asked, [HOST]);
  assert.equal(h.socket().url, `wss://broker.test/ws/viewer?ticket=${"T".repeat(43)}`);
  assert.equal(FakePeer.made.length, 0, "no peer connection before the socket is open");
  h.socket().accept();
  await flush();
  assert.deepEqual(h.socket().types(), ["viewer_join", "offer"]);
  assert.equal(h.socket().sent[0].host_id, HOST);
  assert.equal(h.socket().sent[1].sdp, OFFER_SDP);
  const peer = h.peer();
  assert.deepEqual(peer.config, { iceServers: [], iceTransportPolicy: "all" });
  assert.equal(peer.channel.label, "input");
  assert.deepEqual(peer.channel.options, { ordered: true });
  assert.deepEqual(peer.transceiver.init, { direction: "recvonly" });
  assert.equal(peer.transceiver.receiver.jitterBufferTarget, 0, "frames shown as soon as decoded");
});

test("H.264 is preferred when the browser offers it", async () => {
  const codecs = [{ mimeType: "video/VP8" }, { mimeType: "video/H264", sdpFmtpLine: "packetization-mode=1" }];
  const h = harness({ codecs });
  h.connection.open(HOST);
  await flush();
  h.socket().accept();
  await flush();
  assert.deepEqual(h.peer().preferred.map((c) => c.mimeType), ["video/H264", "video/VP8"]);
});

test("the answer and the host's candidates reach the peer; candidates before the answer wait", async () => {
  const h = harness();
  h.connection.open(HOST);
  await flush();
  h.socket().accept();
  await flush();
  h.socket().receive({ type: "ice", candidate: CANDIDATE });
  await flush();
  assert.deepEqual(h.peer().added, [], "no candidate before the remote description");
  h.socket().receive({ type: "answer", sdp: ANSWER_SDP });
  await flush();
  assert.deepEqual(h.peer().remoteDescription, { type: "answer", sdp: ANSWER_SDP });
  // A candidate naming no m-line belongs to the one bundled transport (index 0).
  assert.deepEqual(h.peer().added, [{ candidate: CANDIDATE, sdpMid: null, sdpMLineIndex: 0 }]);
  h.socket().receive({ type: "ice", candidate: "", sdp_mid: "0" });
  await flush();
  assert.deepEqual(h.peer().added.at(-1), { candidate: "", sdpMid: "0", sdpMLineIndex: null });
});

test("this browser's candidates are trickled after the offer, the end of candidates once", async () => {
  const h = harness();
  h.connection.open(HOST);
  await flush();
  h.socket().accept();
  h.peer().candidate({ candidate: CANDIDATE, sdpMid: "0", sdpMLineIndex: 0 });
  await flush();
  h.peer().candidate(null);
  h.peer().candidate({ candidate: "" });
  h.peer().candidate({ candidate: "not a candidate line" });
  assert.deepEqual(h.socket().types(), ["viewer_join", "offer", "ice", "ice"]);
  assert.deepEqual(h.socket().sent[2], { type: "ice", candidate: CANDIDATE, sdp_mid: "0", sdp_mline_index: 0 });
  assert.deepEqual(h.socket().sent[3], { type: "ice", candidate: "" });
});

test("a relay-only ticket: relay policy on the peer, only relay candidates leave the browser", async () => {
  const turn = { urls: ["turns:turn.example.jp:443?transport=tcp"], username: "1:u", credential: "c2VjcmV0" };
  const h = harness({ grant: { ticket: "T".repeat(43), viewOnly: false, iceServers: [turn], icePolicy: "relay" } });
  h.connection.open(HOST);
  await flush();
  h.socket().accept();
  await flush();
  assert.deepEqual(h.peer().config, { iceServers: [turn], iceTransportPolicy: "relay" });
  const relay = "candidate:2 1 udp 41885439 203.0.113.1 50000 typ relay raddr 0.0.0.0 rport 0";
  h.peer().candidate({ candidate: CANDIDATE, sdpMid: "0", sdpMLineIndex: 0 });
  h.peer().candidate({ candidate: "candidate:3 1 udp 1686052607 203.0.113.34 50001 typ srflx", sdpMid: "0", sdpMLineIndex: 0 });
  h.peer().candidate({ candidate: relay, sdpMid: "0", sdpMLineIndex: 0 });
  assert.deepEqual(h.socket().types(), ["viewer_join", "offer", "ice"]);
  assert.equal(h.socket().sent[2].candidate, relay);
});

test("connected: the state, the video track, the input channel, and the channel to send on", async () => {
  const h = await connected();
  assert.deepEqual(h.states(), ["connecting", "connected"]);
  assert.equal(h.connection.live, true);
  assert.equal(h.connection.inputChannel(), h.peer().channel);
  assert.equal(h.connection.peerConnection, h.peer());
  assert.deepEqual(h.events.filter((e) => e.type === "input").map((e) => e.open), [true]);
  const state = h.events.filter((e) => e.type === "state").at(-1);
  assert.equal(state.previous, "connecting");
  assert.equal(state.hostId, HOST);
  h.peer().dispatch("track", { track: "video-track", streams: ["stream"], receiver: {} });
  assert.deepEqual(h.events.at(-1), { type: "track", track: "video-track", streams: ["stream"] });
});

test("a view-only grant sends nothing: no input channel is handed out", async () => {
  const h = await connected({ grant: { ticket: "T".repeat(43), viewOnly: true } });
  assert.equal(h.connection.snapshot().viewOnly, true);
  assert.equal(h.connection.inputChannel(), null);
});

test("the clinic's text entry comes from the ticket; without one, host IME only", async () => {
  const h = await connected({ grant: { ticket: "T".repeat(43), viewOnly: false, textEntry: "both" } });
  assert.equal(h.connection.snapshot().textEntry, "both");
  assert.equal((await connected()).connection.snapshot().textEntry, "host_ime");
});

test("the broker's view_only notice outranks the ticket; other notices say minutes left", async () => {
  const h = await connected();
  h.socket().receive({ type: "notice", code: "view_only", seconds_left: 0 });
  assert.equal(h.connection.inputChannel(), null);
  h.socket().receive({ type: "notice", code: "ending_soon", seconds_left: 170 });
  assert.deepEqual(h.connection.snapshot().notice, { code: "ending_soon", secondsLeft: 170 });
});

test("the host's cursor messages are validated; a bad one is counted, not passed on", async () => {
  const h = await connected();
  h.peer().channel.dispatch("message", { data: '{"t":"cursor","x":640,"y":360,"v":true}' });
  h.peer().channel.dispatch("message", { data: '{"t":"cursor","x":1,"y":2,"v":true,"note":"<b>hi</b>"}' });
  const cursorEvents = h.events.filter((e) => e.type.startsWith("cursor"));
  assert.deepEqual(cursorEvents.map((e) => e.type), ["cursor", "cursorinvalid"]);
  assert.equal(cursorEvents[0].message.x, 640);
});

test("the host's monitors come as their own event; the choice goes out even view only", async () => {
  const h = await connected({ grant: { ticket: "T".repeat(43), viewOnly: true } });
  const list = '{"t":"monitors","sel":0,"list":[{"id":0,"x":0,"y":0,"w":800,"h":600,"p":true},' +
    '{"id":1,"x":800,"y":0,"w":640,"h":480,"p":false}]}';
  h.peer().channel.dispatch("message", { data: list });
  h.peer().channel.dispatch("message", { data: list.replace('"sel":0', '"sel":2') });
  const seen = h.events.filter((e) => e.type === "monitors" || e.type.startsWith("cursor"));
  assert.deepEqual(seen.map((e) => e.type), ["monitors", "cursorinvalid"]);
  assert.deepEqual(seen[0].message.monitors.map((m) => m.width), [800, 640]);
  h.peer().channel.open();
  assert.equal(h.connection.inputChannel(), null); // no input in a view-only session
  assert.equal(h.connection.chooseMonitor(1), true); // but choosing what to see
  assert.equal(h.connection.chooseMonitor(-1), true);
  assert.deepEqual(h.peer().channel.sent.slice(-2), ['{"t":"monitor","id":1}', '{"t":"monitor","id":-1}']);
});

test("host_disconnected blanks the picture, closes everything and retries after a backoff", async () => {
  const h = await connected();
  const [socket, peer] = [h.socket(), h.peer()];
  h.socket().receive({ type: "bye", reason: "host_disconnected" });
  assert.deepEqual(h.states().slice(-1), ["host_disconnected:host_disconnected"]);
  assert.ok(h.events.some((e) => e.type === "blank"));
  assert.deepEqual(h.events.filter((e) => e.type === "input").map((e) => e.open), [true, false]);
  assert.equal(socket.closedWith, 1000);
  assert.equal(peer.closed, true);
  assert.equal(h.connection.inputChannel(), null);
  const { retryAt, attempt } = h.connection.snapshot();
  assert.equal(retryAt, DEFAULT_MIN_MS, "random 0: the floor");
  assert.equal(attempt, 1);
  h.timers.advance(DEFAULT_MIN_MS);
  assert.equal(h.connection.state, "connecting");
  await flush();
  assert.equal(FakeSocket.made.length, 2, "a new session");
});

test("host_busy retries no sooner than 5 s; a refused grant or device is not retried", async () => {
  const busy = await connected();
  busy.socket().receive({ type: "error", code: "host_busy", message: "busy" });
  assert.equal(busy.connection.snapshot().retryAt - busy.timers.now, SLOW_RETRY_MIN_MS);
  for (const refusal of ["outside_window", "device_pending", "unauthorized"]) {
    const h = harness({ grant: { error: refusal } });
    h.connection.open(HOST);
    await flush();
    assert.deepEqual(h.states(), ["connecting", `error:${refusal}`]);
    assert.equal(h.connection.snapshot().retryAt, null);
    assert.equal(h.timers.pending, 0);
    assert.equal(FakeSocket.made.length, 0, "no socket without a ticket");
  }
});

test("a bye from the broker ends the session with its reason and no retry", async () => {
  const h = await connected();
  h.socket().receive({ type: "bye", reason: "device_revoked" });
  assert.equal(h.connection.state, "ended");
  assert.equal(h.connection.snapshot().byeReason, "device_revoked");
  assert.equal(h.timers.pending, 0);
  assert.ok(!h.events.some((e) => e.type === "reauth"));
});

test("idle_timeout ends the session and asks for the second factor again", async () => {
  const h = await connected();
  h.socket().receive({ type: "bye", reason: "idle_timeout" });
  assert.deepEqual(h.events.slice(-1).map((e) => e.type), ["reauth"]);
  assert.equal(h.connection.state, "ended");
});

test("a peer failure then a ticket refused for the second factor goes to the second-factor step", async () => {
  // The agent closed the peer at the idle limit before the broker's bye: the page sees
  // peer_failed and retries; the broker refuses the ticket (reauth_required), no more retries.
  let refused = false;
  const h = await connected({ grant: () => (refused ? { error: "reauth_required" } : { ticket: "T".repeat(43), viewOnly: false }) });
  refused = true;
  h.peer().channel.closeRemote();
  await flush();
  assert.equal(h.connection.state, "disconnected");
  h.timers.advance(60_000);
  await flush();
  assert.equal(h.connection.snapshot().error, "reauth_required");
  assert.deepEqual(h.events.slice(-1).map((e) => e.type), ["reauth"]);
  assert.equal(h.timers.pending, 0, "no retry after reauth_required");
});

test("a malformed frame from the broker closes with the protocol's close code", async () => {
  const h = await connected();
  h.socket().receive("not json");
  assert.equal(h.connection.snapshot().error, "malformed");
  assert.equal(h.socket().closedWith, CloseCode.MALFORMED);
});

test("an answer out of turn is refused as unexpected", async () => {
  const h = await connected();
  h.socket().receive({ type: "answer", sdp: ANSWER_SDP });
  await flush();
  assert.equal(h.connection.snapshot().error, "unexpected");
  assert.equal(h.socket().closedWith, CloseCode.UNEXPECTED);
});

test("an answer the browser cannot apply says bye webrtc", async () => {
  const h = harness();
  h.connection.open(HOST);
  await flush();
  h.socket().accept();
  await flush();
  FakePeer.refuseAnswer = true;
  const socket = h.socket();
  socket.receive({ type: "answer", sdp: ANSWER_SDP });
  await flush();
  assert.deepEqual(socket.sent.at(-1), { type: "bye", reason: "webrtc" });
  assert.equal(h.connection.snapshot().error, "webrtc");
});

test("a socket refused before it opened is unauthorized when signed out, network otherwise", async () => {
  for (const [signedIn, token] of [[false, "unauthorized"], [true, "network"]]) {
    const h = harness({ signedIn });
    h.connection.open(HOST);
    await flush();
    h.socket().drop(1006);
    await flush();
    assert.equal(h.connection.snapshot().error, token);
  }
});

test("the socket closing mid-session ends it with its close code's token", async () => {
  const h = await connected();
  h.socket().drop(CloseCode.HOST_BUSY);
  await flush();
  assert.deepEqual(h.states().slice(-1), ["error:host_busy"]);
  assert.equal(h.connection.inputChannel(), null);
});

test("the input channel closing ends the session at once (no frozen picture)", async () => {
  const h = await connected();
  const socket = h.socket();
  h.peer().channel.closeRemote();
  assert.equal(h.connection.snapshot().error, "peer_failed");
  assert.equal(h.connection.state, "disconnected");
  assert.deepEqual(socket.sent.at(-1), { type: "bye", reason: "peer_failed" });
});

test("ICE disconnected for 3 s ends the session; recovering in time keeps it", async () => {
  const h = await connected();
  const peer = h.peer();
  peer.become("disconnected");
  h.timers.advance(DISCONNECT_GRACE_MS - 1);
  peer.become("connected");
  h.timers.advance(DISCONNECT_GRACE_MS);
  assert.equal(h.connection.state, "connected");
  peer.become("disconnected");
  h.timers.advance(DISCONNECT_GRACE_MS - 1);
  assert.equal(h.connection.state, "connected");
  h.timers.advance(1);
  assert.ok(h.states().includes("disconnected:peer_failed"), "ended, and started again at once");
  assert.equal(peer.closed, true);
  peer.become("failed");
  assert.equal(h.states().filter((s) => s.startsWith("disconnected")).length, 1, "ended once");
});

/** Move the fake clock on poll by poll, letting each stats read settle. */
async function poll(h, times, peer, grow) {
  for (let i = 0; i < times; i += 1) {
    if (grow) peer.bytesReceived += 1200;
    h.timers.advance(STALL_POLL_MS);
    await flush();
  }
}

test("nothing received for 1.5 s ends the session and a new one starts at once", async () => {
  const h = await connected();
  const peer = h.peer();
  peer.bytesReceived = 5000;
  await poll(h, 10, peer, true);
  assert.equal(h.connection.state, "connected", "keep-alive frames arriving keep it");
  await poll(h, STALL_MS / STALL_POLL_MS - 1, peer, false);
  assert.equal(h.connection.state, "connected", "not yet");
  await poll(h, 1, peer, false);
  assert.equal(h.connection.snapshot().error, "peer_failed");
  assert.deepEqual(h.socket().sent.at(-1), { type: "bye", reason: "peer_failed" });
  assert.equal(peer.closed, true);
  h.timers.advance(0);
  await flush();
  assert.equal(h.asked.length, 2, "a fresh ticket at once, no backoff");
  assert.equal(FakeSocket.made.length, 2);
});

test("a browser without transport stats is never judged stalled", async () => {
  const h = await connected();
  await poll(h, 20, h.peer(), false);
  assert.equal(h.connection.state, "connected");
});

const STUN_GRANT = { ticket: "T".repeat(43), viewOnly: false, iceServers: [{ urls: ["stun:turn.test:3478"] }] };
const SRFLX = (ip) => `candidate:1 1 udp 1677729535 ${ip} 40000 typ srflx raddr 0.0.0.0 rport 0`;

/** Connected with a STUN server in the ticket; the baseline probe answered `address`. */
async function connectedWithStun(address) {
  const h = await connected({ grant: STUN_GRANT });
  await flush();
  const [main, baseline] = FakePeer.made;
  assert.deepEqual(baseline.config.iceServers, [{ urls: ["stun:turn.test:3478"] }], "a probe, not the session");
  baseline.candidate({ candidate: SRFLX(address) });
  baseline.candidate(null);
  await flush();
  assert.equal(baseline.closed, true);
  main.bytesReceived = 5000;
  await poll(h, 4, main, true);
  return { h, main };
}

/** Stall the path until the first probe of it is made; that probe. */
async function stallUntilProbed(h, main) {
  const before = FakePeer.made.length;
  await poll(h, PROBE_AFTER_MS / STALL_POLL_MS, main, false);
  await flush();
  assert.equal(FakePeer.made.length, before + 1, "the stalled path is probed after PROBE_AFTER_MS");
  return FakePeer.made.at(-1);
}

test("a stalled path on a new public address (Wi-Fi to LTE) ends after 1 s, not 2.5 s", async () => {
  const { h, main } = await connectedWithStun("198.51.100.7");
  const probe = await stallUntilProbed(h, main);
  assert.equal(h.connection.state, "connected");
  probe.candidate({ candidate: SRFLX("203.0.113.40") });
  await flush();
  assert.equal(h.connection.snapshot().error, "peer_failed");
  assert.equal(main.closed, true);
  h.timers.advance(0);
  await flush();
  assert.equal(h.asked.length, 2, "a fresh ticket at once");
});

test("a stalled path on the same public address, or with no answer, waits for STALL_MS", async () => {
  const { h, main } = await connectedWithStun("198.51.100.7");
  const probe = await stallUntilProbed(h, main);
  probe.candidate({ candidate: SRFLX("198.51.100.7") });
  await flush();
  assert.equal(h.connection.state, "connected", "same network: an outage, not a change");
  // The next probe finds nothing (the outage): inconclusive too.
  await poll(h, PROBE_AFTER_MS / STALL_POLL_MS, main, false);
  await flush();
  const silent = FakePeer.made.at(-1);
  assert.notEqual(silent, probe, "probed again, at most once a PROBE_EVERY_MS");
  silent.candidate(null);
  await flush();
  assert.equal(h.connection.state, "connected");
  const stalledFor = 2 * PROBE_AFTER_MS;
  await poll(h, (STALL_MS - stalledFor) / STALL_POLL_MS - 1, main, false);
  assert.equal(h.connection.state, "connected", "not yet");
  await poll(h, 1, main, false);
  assert.equal(h.connection.snapshot().error, "peer_failed", "the plain stall limit still applies");
});

test("bytes that came back while the probe ran keep the path, whatever the address", async () => {
  const { h, main } = await connectedWithStun("198.51.100.7");
  const probe = await stallUntilProbed(h, main);
  await poll(h, 1, main, true);
  probe.candidate({ candidate: SRFLX("203.0.113.40") });
  await flush();
  assert.equal(h.connection.state, "connected");
  assert.equal(main.closed, false);
});

test("ICE disconnected on a new public address ends at once, not after the grace", async () => {
  const { h, main } = await connectedWithStun("198.51.100.7");
  main.become("disconnected");
  await flush();
  const probe = FakePeer.made.at(-1);
  assert.notEqual(probe, main);
  probe.candidate({ candidate: SRFLX("203.0.113.40") });
  await flush();
  assert.equal(h.connection.snapshot().error, "peer_failed");
});

test("ICE disconnected on the same address, or back to connected meanwhile, keeps the grace", async () => {
  const { h, main } = await connectedWithStun("198.51.100.7");
  main.become("disconnected");
  await flush();
  FakePeer.made.at(-1).candidate({ candidate: SRFLX("198.51.100.7") });
  await flush();
  assert.equal(h.connection.state, "connected");
  await poll(h, PROBE_EVERY_MS / STALL_POLL_MS, main, true); // bytes flow: no stall probe
  main.become("connected");
  main.become("disconnected");
  await flush();
  const probe = FakePeer.made.at(-1);
  main.become("connected");
  probe.candidate({ candidate: SRFLX("203.0.113.40") });
  await flush();
  assert.equal(h.connection.state, "connected", "the path came back before the answer");
  assert.equal(main.closed, false);
});

test("without a STUN server nothing is probed and a stall ends at STALL_MS", async () => {
  const h = await connected();
  const main = h.peer();
  main.bytesReceived = 5000;
  await poll(h, STALL_MS / STALL_POLL_MS - 1, main, false);
  assert.equal(FakePeer.made.length, 1, "no probe connection");
  assert.equal(h.connection.state, "connected");
});

test("a resume that fails again backs off as usual", async () => {
  const h = await connected();
  h.peer().channel.closeRemote(); // peer_failed from a live session: at once
  h.timers.advance(0);
  await flush();
  h.socket().accept();
  await flush();
  h.peer().become("failed"); // the new attempt fails before it ever connected
  assert.equal(h.connection.snapshot().retryAt - h.timers.now, DEFAULT_MIN_MS, "random 0: the floor");
});

test("close says bye with the reason, closes, blanks and stops any retry", async () => {
  const h = await connected();
  const [socket, peer] = [h.socket(), h.peer()];
  h.connection.close("viewer_left");
  assert.deepEqual(socket.sent.at(-1), { type: "bye", reason: "viewer_left" });
  assert.equal(socket.closedWith, 1000);
  assert.equal(peer.closed, true);
  assert.equal(h.connection.state, "closed");
  assert.equal(h.connection.hostId, null);
  const retrying = await connected();
  retrying.socket().receive({ type: "bye", reason: "host_disconnected" });
  retrying.connection.close();
  assert.equal(retrying.timers.pending, 0);
});

test("late answers from an attempt that was closed change nothing", async () => {
  const h = harness();
  h.connection.open(HOST);
  await flush();
  const socket = h.socket();
  socket.accept();
  await flush();
  h.connection.close();
  const before = h.events.length;
  socket.receive({ type: "answer", sdp: ANSWER_SDP });
  socket.drop(1006);
  h.peer().become("connected");
  await flush();
  assert.equal(h.events.length, before);
  assert.equal(h.connection.state, "closed");
});

test("open on the host already open does nothing; on another host it leaves the first", async () => {
  const h = await connected();
  h.connection.open(HOST);
  assert.equal(FakeSocket.made.length, 1);
  const first = h.socket();
  h.connection.open("exam-1");
  assert.deepEqual(first.sent.at(-1), { type: "bye", reason: "viewer_left" });
  await flush();
  assert.deepEqual(h.asked, [HOST, "exam-1"]);
});

test("reconnect leaves the live session first, then joins again once its socket closed", async () => {
  const h = await connected();
  const old = h.socket();
  h.connection.reconnect();
  assert.deepEqual(old.sent.at(-1), { type: "bye", reason: "viewer_left" });
  assert.equal(h.connection.state, "connecting");
  await flush();
  assert.equal(FakeSocket.made.length, 1, "not before the old socket is gone");
  old.dispatch("close", { code: 1000 });
  await flush();
  assert.equal(FakeSocket.made.length, 2);
  h.timers.advance(REJOIN_FALLBACK_MS);
  await flush();
  assert.equal(FakeSocket.made.length, 2, "the fallback does not join a second time");
});

test("every state has a label in the status bar", () => {
  for (const state of STATES) assert.ok(hasKey(`state.${state}`), state);
});

// ---- a broker restart under a live picture (issue 18) -------------------------------------

const SECRET_1 = "A".repeat(43);
const SECRET_2 = "B".repeat(43);

test("a broker restart keeps the picture: the signaling is taken back with the resume secret", async () => {
  const h = await connected();
  const first = h.socket();
  assert.equal(first.sent[0].resume, true, "the page asks for a resume secret");
  first.receive({ type: "resume_token", token: SECRET_1 });
  const before = h.events.length;
  first.drop(1012);
  await flush();
  assert.equal(h.connection.state, "connected");
  assert.equal(h.peer().closed, false, "the peer connection is kept");
  // The broker is still down: the first attempt fails like a dead port (1006), then again.
  h.timers.advance(250);
  assert.equal(h.socket().url, "wss://broker.test/ws/viewer/resume");
  h.socket().drop(1006);
  h.timers.advance(500);
  const resumed = h.socket();
  assert.notEqual(resumed, first);
  resumed.accept();
  assert.deepEqual(resumed.sent, [{ type: "viewer_resume", token: SECRET_1 }]);
  resumed.receive({ type: "resume_token", token: SECRET_2 });
  assert.deepEqual(h.events.slice(before), [], "nothing blanked, no state change");
  // A second restart uses the new secret.
  resumed.drop(1006);
  h.timers.advance(250);
  h.socket().accept();
  assert.deepEqual(h.socket().sent, [{ type: "viewer_resume", token: SECRET_2 }]);
  // The broker's word reaches the page again: an admin ends the session.
  h.socket().receive({ type: "bye", reason: "ended_by_admin" });
  assert.equal(h.connection.state, "ended");
  assert.equal(h.peer().closed, true);
});

test("without a resume secret, or with the picture down, a restart ends the attempt as before", async () => {
  const h = await connected();
  h.socket().drop(1012);
  await flush();
  assert.notEqual(h.connection.state, "connected");
  const g = await connected();
  g.socket().receive({ type: "resume_token", token: SECRET_1 });
  g.peer().connectionState = "disconnected";
  g.socket().drop(1012);
  await flush();
  assert.notEqual(g.connection.state, "connected");
});

test("a refused resume ends the session with the broker's reason", async () => {
  const h = await connected();
  h.socket().receive({ type: "resume_token", token: SECRET_1 });
  h.socket().drop(1012);
  h.timers.advance(250);
  h.socket().accept();
  h.socket().receive({ type: "error", code: "resume_pending", message: "not yet" });
  h.socket().drop(1013);
  assert.equal(h.connection.state, "connected", "pending: try again");
  h.timers.advance(500);
  h.socket().accept();
  h.socket().receive({ type: "error", code: "resume_refused", message: "no" });
  assert.equal(h.connection.snapshot().error, "resume_refused");
  assert.equal(h.peer().closed, true);
  assert.ok(hasKey("error.resume_refused"));
});

test("the page stops trying after the resume window", async () => {
  const h = await connected();
  h.socket().receive({ type: "resume_token", token: SECRET_1 });
  h.socket().drop(1006);
  for (let i = 0; i < 100 && h.connection.state === "connected"; i += 1) {
    h.timers.advance(2000);
    h.socket().drop(1006);
  }
  assert.notEqual(h.connection.state, "connected");
  assert.ok(h.timers.now <= RESUME_WINDOW_MS + 4000, "gave up within the window");
  assert.equal(h.peer().closed, true);
});
