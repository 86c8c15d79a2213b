/**
 * A viewer's connection to one host, without the DOM (like noVNC's RFB object): it owns the
 * WebSocket signaling, the RTCPeerConnection and the `input` data channel (one attempt at a
 * time: core/viewer_session.js), and the reconnect state; it tells the page what happened
 * through events, and app/viewer.js only renders it.
 *
 * An attempt that ends is blanked at once (never a frozen frame) and, unless the reason
 * rules it out (core/backoff.js reconnectPolicy), followed by a new one after a backoff
 * delay. Everything the browser provides is passed in (`WebSocket`, `RTCPeerConnection`,
 * timers), so node tests drive it with fakes.
 *
 * Events (`on(type, listener)`; each listener gets one object):
 * - `state`: the snapshot (see `snapshot()`) after any change, with `previous` (the state
 *   before). States: idle, connecting, connected, host_disconnected, disconnected, ended,
 *   error, closed.
 * - `receiver`: `{receiver}`, the video receiver, before the offer (app/canvas_video.js must
 *   set its transform then).
 * - `track`: `{track, streams}`, the host's video as it arrives (before `connected`).
 * - `blank`: `{}`, the picture must go now.
 * - `input`: `{open}`, the input channel opened or is gone.
 * - `cursor`: `{message}`, a validated host cursor message (core/cursor.js);
 *   `cursorinvalid`: `{}`, one that failed validation and was dropped.
 * - `monitors`: `{message}`, the host's validated monitor list (core/monitors.js).
 * - `tiles`: `{message}`, a validated lossless tile or invalidation (core/tiles.js);
 *   `tilesinvalid`: `{reason}`, a binary message that failed validation and was dropped.
 * - `reauth`: `{}`, the broker ended the session for idleness and wants the second factor
 *   again (クリアスクリーン): a bye `idle_timeout`, or a ticket refused with
 *   `reauth_required` (the bye may never arrive: the agent closing the peer first ends the
 *   attempt as peer_failed; the broker decides either way).
 */

import { backoffDelay, reconnectPolicy } from "./backoff.js";
import { monitorChoice } from "./monitors.js";
import { tileOverlayState } from "./tiles.js";
import { ViewerSession } from "./viewer_session.js";

// After "reconnect" with a live session: join again once the old socket closed, or after
// this long at the latest (the broker must see the old session go first, else host_busy).
export const REJOIN_FALLBACK_MS = 1500;

export const STATES = Object.freeze([
  "idle",
  "connecting",
  "connected",
  "host_disconnected",
  "disconnected",
  "ended",
  "error",
  "closed",
]);

const SYSTEM_TIMERS = Object.freeze({
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
});

export class ViewerConnection {
  #deps;
  #timers;
  #listeners = new Map();
  #hostId = null;
  #session = null; // the current attempt (core/viewer_session.js)
  #attempt = 0;
  #state = "idle";
  #error = null;
  #byeReason = null;
  #retryTimer = null;
  #retryAt = null;
  #notice = null; // {code, secondsLeft}: a broker notice for the live session (ending soon)
  #viewOnly = false; // the grant allows the picture only: nothing is sent to the host
  #textEntry = "host_ime"; // the clinic's text entry (core/text_entry.js), from the ticket

  /**
   * @param {object} deps
   * @param {(hostId: string) => Promise<{ticket: string, viewOnly: boolean, textEntry?: string} | {error: string}>} deps.fetchTicket
   * @param {(ticket: string) => string} deps.socketUrl the signaling WebSocket's URL
   * @param {() => string} [deps.resumeUrl] where a live session's signaling is taken back
   *   after the broker restarted (core/viewer_session.js); none: such a session ends
   * @param {typeof WebSocket} deps.WebSocket
   * @param {typeof RTCPeerConnection} deps.RTCPeerConnection
   * @param {() => Promise<boolean>} deps.isSignedIn asked when the socket never opened: a
   *   refused handshake looks like any network failure (1006) to a browser
   * @param {() => object[] | undefined} [deps.videoCodecs] RTCRtpReceiver.getCapabilities("video").codecs
   * @param {{setTimeout: Function, clearTimeout: Function}} [deps.timers]
   * @param {() => number} [deps.random] for the backoff's jitter
   * @param {() => number} [deps.now] milliseconds, for retryAt
   */
  constructor(deps) {
    this.#deps = { random: Math.random, now: Date.now, videoCodecs: () => undefined, timers: SYSTEM_TIMERS, ...deps };
    this.#timers = this.#deps.timers;
  }

  // ---- events -------------------------------------------------------------------------

  /** Listen to `type`; returns a function that stops listening. */
  on(type, listener) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type).add(listener);
    return () => this.#listeners.get(type).delete(listener);
  }

  #emit(type, detail = {}) {
    for (const listener of [...(this.#listeners.get(type) ?? [])]) listener(detail);
  }

  // ---- what the page reads ------------------------------------------------------------

  /** Everything the status bar shows. */
  snapshot() {
    return {
      hostId: this.#hostId,
      state: this.#state,
      error: this.#error,
      byeReason: this.#byeReason,
      attempt: this.#attempt,
      retryAt: this.#retryAt,
      viewOnly: this.#viewOnly,
      textEntry: this.#textEntry,
      notice: this.#notice,
    };
  }

  get state() {
    return this.#state;
  }

  get hostId() {
    return this.#hostId;
  }

  /** The live session's peer connection (for its stats), or null. */
  get peerConnection() {
    return this.#session?.pc ?? null;
  }

  /** The channel input goes out on; null when there is none or the session is view only. */
  inputChannel() {
    return this.#viewOnly ? null : (this.#session?.dc ?? null);
  }

  /**
   * Ask the host for another of its monitors (core/monitors.js; ALL_MONITORS: all as one
   * desktop). Allowed in a view-only session too: choosing what to see is not input.
   * @returns {boolean} whether the choice was sent
   */
  chooseMonitor(id) {
    const dc = this.#session?.dc ?? null;
    if (!dc || dc.readyState !== "open") return false;
    try {
      dc.send(monitorChoice(id));
      return true;
    } catch {
      return false; // channel closing; the session end handles it
    }
  }

  /**
   * Tell the host whether the tile overlay draws (core/tiles.js tileOverlayState); sent in
   * view-only sessions too: it is about the picture, not input.
   * @returns {boolean} whether it was sent
   */
  reportTileOverlay(ok) {
    const dc = this.#session?.dc ?? null;
    if (!dc || dc.readyState !== "open") return false;
    try {
      dc.send(tileOverlayState(ok));
      return true;
    } catch {
      return false; // channel closing; the session end handles it
    }
  }

  /** Whether a picture is up and input may flow. */
  get live() {
    return this.#state === "connected" && this.#session !== null;
  }

  // ---- what the page asks -------------------------------------------------------------

  /** Connect to `hostId` now. Opening the host already open (or retrying) does nothing. */
  open(hostId) {
    if (hostId === this.#hostId && (this.#session || this.#retryTimer !== null)) return;
    this.close("viewer_left");
    this.#hostId = hostId;
    this.#attempt = 0;
    this.#byeReason = null;
    this.#connect();
  }

  /** End the session (bye with `reason`, then close) and stop reconnecting. */
  close(reason = "viewer_left") {
    this.#clearRetry();
    const wasOpen = this.#hostId !== null;
    this.#hostId = null;
    this.#stop({ bye: reason });
    this.#emit("blank");
    if (wasOpen) this.#setState("closed");
  }

  /** Start again at once: the person pressed 再接続. */
  reconnect() {
    if (!this.#hostId) return;
    this.#clearRetry();
    this.#attempt = 0;
    const old = this.#session;
    if (!old) {
      this.#connect();
      return;
    }
    this.#stop({ bye: "viewer_left" });
    this.#emit("blank");
    this.#setState("connecting");
    const rejoin = () => {
      if (!this.#session && this.#hostId) this.#connect();
    };
    old.ws?.addEventListener("close", rejoin);
    this.#timers.setTimeout(rejoin, REJOIN_FALLBACK_MS);
  }

  // ---- state --------------------------------------------------------------------------

  #setState(next, token = null) {
    const previous = this.#state;
    this.#state = next;
    this.#error = token;
    this.#changed(previous);
  }

  /** Tell the page the snapshot changed (state or not). */
  #changed(previous = this.#state) {
    this.#emit("state", { ...this.snapshot(), previous });
  }

  // ---- attempts -----------------------------------------------------------------------

  #connect() {
    this.#clearRetry();
    this.#viewOnly = false;
    const session = new ViewerSession(this.#deps, this.#hostId, {
      // Only the current attempt speaks; one that was stopped has nothing left to say.
      ended: (token, byeReason) => this.#session === session && this.#ended(token, byeReason),
      connected: () => {
        if (this.#session !== session || this.#state === "connected") return;
        this.#attempt = 0;
        this.#setState("connected");
      },
      viewOnly: () => {
        if (this.#session !== session) return;
        this.#viewOnly = true;
        this.#changed();
      },
      textEntry: (mode) => {
        if (this.#session !== session || this.#textEntry === mode) return;
        this.#textEntry = mode;
        this.#changed();
      },
      notice: (notice) => {
        if (this.#session !== session) return;
        this.#notice = notice;
        this.#changed();
      },
      receiver: (receiver) => this.#session === session && this.#emit("receiver", { receiver }),
      track: (track) => this.#session === session && this.#emit("track", track),
      input: (open) => this.#session === session && this.#emit("input", { open }),
      cursor: (message) => this.#session === session && this.#emit("cursor", { message }),
      cursorInvalid: () => this.#session === session && this.#emit("cursorinvalid"),
      monitors: (message) => this.#session === session && this.#emit("monitors", { message }),
      tiles: (message) => this.#session === session && this.#emit("tiles", { message }),
      tilesInvalid: (reason) => this.#session === session && this.#emit("tilesinvalid", { reason }),
    });
    this.#session = session;
    this.#setState("connecting");
    session.start();
  }

  /** Stop the current attempt, if any (it says `input: closed` while still current). */
  #stop(options) {
    const session = this.#session;
    if (!session) return;
    session.stop(options);
    this.#session = null;
  }

  #ended(token, byeReason) {
    this.#session = null;
    this.#notice = null;
    this.#emit("blank");
    if (token === "bye") {
      this.#byeReason = byeReason;
      this.#setState("ended", byeReason);
      if (byeReason === "idle_timeout") this.#emit("reauth");
      return;
    }
    const policy = reconnectPolicy(token);
    // A live session whose path died (a network change) starts again at once: the person
    // is waiting for the picture, and the broker hands the same browser its own session.
    const resume = token === "peer_failed" && this.#attempt === 0;
    if (policy.retry) this.#scheduleRetry(policy.minMs, resume);
    this.#setState(policy.state, token);
    if (token === "reauth_required") this.#emit("reauth");
  }

  // ---- reconnect ----------------------------------------------------------------------

  #clearRetry() {
    this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#retryAt = null;
  }

  #scheduleRetry(minMs, atOnce = false) {
    this.#clearRetry();
    const delay = atOnce ? 0 : backoffDelay(this.#attempt, this.#deps.random, { minMs });
    this.#attempt += 1;
    this.#retryAt = this.#deps.now() + delay;
    this.#retryTimer = this.#timers.setTimeout(() => {
      this.#clearRetry();
      if (this.#hostId && !this.#session) this.#connect();
    }, delay);
  }
}
