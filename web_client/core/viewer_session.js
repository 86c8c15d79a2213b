/**
 * One attempt of a viewer to see one host (core/viewer_connection.js strings attempts
 * together): a single-use ticket (`fetchTicket`, which has this browser's device key sign a
 * fresh broker challenge) -> WebSocket /ws/viewer?ticket=... -> viewer_join ->
 * RTCPeerConnection (recvonly video, data channel `input`) -> offer + trickled ICE -> answer
 * + ICE from the agent. It ends on bye, an error, the socket closing, the input channel
 * closing, or the peer connection failing (or staying disconnected for 3 s, or receiving
 * nothing at all for 2.5 s, or for 1 s when the browser's public address has changed since
 * it connected: core/path_watch.js), and says why once (`events.ended`). No DOM: the
 * browser's classes come in through `deps`.
 *
 * A broker that restarts (close 1012/1001/1013) or dies (1006) while the peer connection is
 * up does not end the session: media is peer-to-peer. The page takes the signaling back on
 * `deps.resumeUrl()` with the session's resume secret (`resume_token`, kept in this object
 * only: never stored, never in a URL), retrying for up to RESUME_WINDOW_MS; the broker
 * answers a new secret, or refuses (then the session ends as before).
 */

import { preferH264 } from "./codecs.js";
import { HostMessageError, parseHostMessage } from "./cursor.js";
import { isRelayCandidate, peerConfiguration } from "./ice_config.js";
import { PathWatch } from "./path_watch.js";
import * as protocol from "./protocol.js";
import { lowLatency } from "./receiver.js";
import { parseTileMessage, TileMessageError } from "./tiles.js";

// A brief ICE "disconnected" often recovers by itself; past 3 s the picture is stale.
export const DISCONNECT_GRACE_MS = 3000;
const SOCKET_OPEN = 1; // WebSocket.OPEN
// The broker's own bound for re-adopting a session (MAMORI_SESSION_RESUME_S, 60 s default).
export const RESUME_WINDOW_MS = 60_000;
const RESUME_RETRY_MS = 250;
const RESUME_RETRY_MAX_MS = 2000;
// Closes after which the broker may take the session back: going away, restart, try again
// later, and no close frame at all (a crashed process).
const RESUMABLE_CLOSES = new Set([1001, 1006, 1012, 1013]);

export class ViewerSession {
  #deps;
  #events;
  #opened = false;
  #offerSent = false;
  #remoteSet = false;
  #endSent = false;
  #localIce = [];
  #remoteIce = [];
  #graceTimer = null;
  #pathWatch = null; // core/path_watch.js, once the peer connection exists
  #grant = null;
  #resumeToken = null; // the broker's secret for taking the signaling back (memory only)
  #resumeUntil = null; // while resuming: give up at this time (ms)
  #resumeTries = 0;
  #resumeTimer = null;
  ws = null;
  pc = null;
  dc = null;
  ended = false;

  /**
   * @param {object} deps see ViewerConnection
   * @param {string} hostId
   * @param {object} events what the session tells its connection, each at most as often as
   *   it happens: `ended(token, closeCode?, byeReason?)` once; `connected()`; `viewOnly()`;
   *   `textEntry(mode)` (the clinic's text entry, from the ticket);
   *   `notice({code, secondsLeft})`; `receiver(r)` (before the offer); `track({track, streams})`;
   *   `input(open)`;
   *   `cursor(message)`; `cursorInvalid()`; `monitors(message)` (core/monitors.js);
   *   `tiles(message)`; `tilesInvalid()` (binary messages, core/tiles.js)
   */
  constructor(deps, hostId, events) {
    this.#deps = deps;
    this.hostId = hostId;
    this.#events = events;
  }

  /** Ask for a ticket, then open the socket and the peer connection. */
  start() {
    Promise.resolve()
      .then(() => this.#deps.fetchTicket(this.hostId))
      .then(
        (grant) => {
          if (this.ended) return;
          if (grant.error) {
            this.#finish(grant.error);
            return;
          }
          if (grant.viewOnly === true) this.#events.viewOnly();
          this.#events.textEntry?.(grant.textEntry ?? "host_ime");
          this.#grant = grant;
          this.#openSocket(grant.ticket);
        },
        () => this.#finish("unexpected"),
      );
  }

  /** Close everything; `bye` set means tell the broker why first. Says nothing more. */
  stop({ bye = null, closeCode = protocol.CloseCode.NORMAL } = {}) {
    if (this.ended) return;
    this.ended = true;
    this.#deps.timers.clearTimeout(this.#graceTimer);
    this.#pathWatch?.stop();
    this.#deps.timers.clearTimeout(this.#resumeTimer);
    this.#resumeToken = null;
    if (bye) {
      try {
        this.#send(protocol.bye(bye));
      } catch {
        // socket already gone
      }
    }
    // Browsers only let a page close with 1000 or 3000-4999.
    const code = closeCode === 1000 || (closeCode >= 3000 && closeCode <= 4999) ? closeCode : 1000;
    try {
      this.ws?.close(code);
    } catch {
      // already closed
    }
    try {
      this.pc?.close();
    } catch {
      // already closed
    }
    this.#events.input(false);
  }

  /** End with `token`: close (with a bye when the failure is this side's) and say why. */
  #finish(token, closeCode = protocol.CloseCode.NORMAL, byeReason = null) {
    if (this.ended) return;
    const viewerSide = token === "peer_failed" || token === "webrtc";
    this.stop({ bye: viewerSide ? token : null, closeCode });
    this.#events.ended(token, byeReason);
  }

  #send(text) {
    if (this.ws && this.ws.readyState === SOCKET_OPEN) this.ws.send(text);
  }

  #openSocket(ticket) {
    try {
      this.ws = new this.#deps.WebSocket(this.#deps.socketUrl(ticket));
    } catch {
      this.#finish("network");
      return;
    }
    this.ws.addEventListener("open", () => {
      if (this.ended) return;
      this.#opened = true;
      this.#send(protocol.viewerJoin(this.hostId));
      this.#startPeer().catch(() => this.#finish("webrtc"));
    });
    this.ws.addEventListener("message", (event) => this.#onBrokerFrame(event.data));
    this.ws.addEventListener("close", (event) => this.#onSocketClose(event));
  }

  async #startPeer() {
    // STUN/TURN with the ticket's short-lived credential, under the clinic's ICE policy.
    const config = peerConfiguration(this.#grant);
    const pc = new this.#deps.RTCPeerConnection(config);
    this.pc = pc;
    this.#pathWatch = new PathWatch(this.#deps, pc, config.iceServers, () => this.#finish("peer_failed"));
    const dc = pc.createDataChannel("input", { ordered: true });
    this.dc = dc;
    dc.addEventListener("open", () => {
      if (!this.ended) this.#events.input(true);
    });
    dc.addEventListener("close", () => {
      // The agent closing its peer closes SCTP; ICE may still look "connected" for a while
      // and the picture would freeze, so a lost input channel ends the session.
      this.#finish("peer_failed");
    });
    // Binary messages are lossless tiles (core/tiles.js), as ArrayBuffers (not Blobs: parsed
    // at once, in order with the invalidations).
    dc.binaryType = "arraybuffer";
    // Host -> browser on this channel: the cursor, the monitors and the tiles, closed schemas.
    dc.addEventListener("message", (event) => {
      if (this.ended) return;
      if (typeof event.data !== "string") {
        this.#onTileMessage(event.data);
        return;
      }
      let message;
      try {
        message = parseHostMessage(event.data);
      } catch (err) {
        if (!(err instanceof HostMessageError)) throw err;
        this.#events.cursorInvalid();
        return;
      }
      if (message.type === "monitors") this.#events.monitors?.(message);
      else this.#events.cursor(message);
    });

    const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
    const order = preferH264(this.#deps.videoCodecs());
    if (order && typeof transceiver.setCodecPreferences === "function") {
      try {
        transceiver.setCodecPreferences(order);
      } catch {
        // Browser's own order then; the agent still picks H.264 if offered.
      }
    }
    lowLatency(transceiver.receiver);
    // Now, before the offer: Chromium gives a transform set later (even in `track`) no frame.
    this.#events.receiver?.(transceiver.receiver);

    pc.addEventListener("track", (event) => {
      if (this.ended) return;
      lowLatency(event.receiver);
      this.#events.track({ track: event.track, streams: event.streams ?? [] });
    });
    pc.addEventListener("icecandidate", (event) => this.#onLocalCandidate(event.candidate));
    pc.addEventListener("connectionstatechange", () => this.#onPeerState());

    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    if (this.ended) return;
    this.#send(protocol.offer(pc.localDescription.sdp));
    this.#offerSent = true;
    for (const text of this.#localIce.splice(0)) this.#send(text);
  }

  #onLocalCandidate(candidate) {
    if (this.ended) return;
    let text;
    if (!candidate || !candidate.candidate) {
      // End of candidates: sent once, as an empty candidate.
      if (this.#endSent) return;
      this.#endSent = true;
      text = protocol.ice("");
    } else {
      // Relay only: no other kind leaves this browser, whatever it gathered.
      if (peerConfiguration(this.#grant).iceTransportPolicy === "relay" && !isRelayCandidate(candidate.candidate)) return;
      try {
        text = protocol.ice(candidate.candidate, candidate.sdpMid ?? null, candidate.sdpMLineIndex ?? null);
      } catch {
        return; // a candidate the broker would refuse is not worth losing the session over
      }
    }
    if (this.#offerSent) this.#send(text);
    else this.#localIce.push(text);
  }

  #onBrokerFrame(data) {
    if (this.ended) return;
    let message;
    try {
      message = protocol.parseBrokerMessage(data);
    } catch (err) {
      if (!(err instanceof protocol.ProtocolError)) throw err;
      this.#finish(protocol.closeCodeToken(err.closeCode) ?? "malformed", err.closeCode);
      return;
    }
    switch (message.type) {
      case "answer":
        this.#applyAnswer(message.sdp);
        break;
      case "ice":
        this.#addRemoteCandidate(message);
        break;
      case "bye":
        if (message.reason === "host_disconnected") this.#finish("host_disconnected");
        else this.#finish("bye", protocol.CloseCode.NORMAL, message.reason);
        break;
      case "error":
        // A resume the broker cannot serve yet: its 1013 close brings the next attempt.
        if (message.code === "resume_pending" && this.#resumeUntil !== null) break;
        // The broker closes the socket right after; its code adds nothing to this token.
        this.#finish(message.code);
        break;
      case "resume_token":
        this.#resumeToken = message.token;
        this.#resumeUntil = null;
        this.#resumeTries = 0;
        break;
      case "notice":
        // The broker's word at join outranks the ticket's (a grant may have changed).
        if (message.code === "view_only") this.#events.viewOnly();
        else this.#events.notice({ code: message.code, secondsLeft: message.seconds_left });
        break;
      default:
        throw new Error(`unhandled broker message ${message.type}`);
    }
  }

  async #applyAnswer(sdp) {
    const pc = this.pc;
    if (!pc || pc.signalingState !== "have-local-offer") {
      this.#finish("unexpected", protocol.CloseCode.UNEXPECTED);
      return;
    }
    try {
      await pc.setRemoteDescription({ type: "answer", sdp });
    } catch {
      this.#finish("webrtc");
      return;
    }
    if (this.ended) return;
    this.#remoteSet = true;
    for (const message of this.#remoteIce.splice(0)) this.#addRemoteCandidate(message);
  }

  #onTileMessage(data) {
    let message;
    try {
      message = parseTileMessage(data);
    } catch (err) {
      if (!(err instanceof TileMessageError)) throw err;
      this.#events.tilesInvalid?.(err.message);
      return;
    }
    this.#events.tiles?.(message);
  }

  #addRemoteCandidate(message) {
    if (!this.#remoteSet) {
      this.#remoteIce.push(message);
      return;
    }
    let init;
    if (message.candidate === "") {
      init = { candidate: "", sdpMid: message.sdp_mid, sdpMLineIndex: message.sdp_mline_index };
    } else {
      const noTarget = message.sdp_mid === null && message.sdp_mline_index === null;
      init = {
        candidate: message.candidate,
        sdpMid: message.sdp_mid,
        // One bundled transport: a candidate that names no m-line belongs to the first.
        sdpMLineIndex: noTarget ? 0 : message.sdp_mline_index,
      };
    }
    this.pc.addIceCandidate(init).catch(() => {
      // A candidate this browser cannot use (or a late end-of-candidates) is not fatal.
    });
  }

  #onPeerState() {
    if (this.ended) return;
    const pcState = this.pc.connectionState;
    if (pcState === "connected") {
      this.#deps.timers.clearTimeout(this.#graceTimer);
      this.#graceTimer = null;
      this.#pathWatch.connected();
      this.#events.connected();
    } else if (pcState === "disconnected") {
      if (this.#graceTimer === null) {
        this.#graceTimer = this.#deps.timers.setTimeout(() => this.#finish("peer_failed"), DISCONNECT_GRACE_MS);
        this.#pathWatch.disconnected(() => this.pc.connectionState === "disconnected");
      }
    } else if (pcState === "failed") {
      this.#finish("peer_failed");
    }
  }

  #resumable(code) {
    if (!this.#resumeToken || !this.#deps.resumeUrl || !RESUMABLE_CLOSES.has(code)) return false;
    return this.pc?.connectionState === "connected";
  }

  /** The broker went away with the picture still flowing: try to take the signaling back. */
  #resumeSignaling() {
    const now = this.#deps.now ? this.#deps.now() : Date.now();
    if (this.#resumeUntil === null) this.#resumeUntil = now + RESUME_WINDOW_MS;
    if (now >= this.#resumeUntil) {
      this.#finish("network");
      return;
    }
    const delay = Math.min(RESUME_RETRY_MAX_MS, RESUME_RETRY_MS * 2 ** this.#resumeTries);
    this.#resumeTries += 1;
    this.#resumeTimer = this.#deps.timers.setTimeout(() => this.#openResumeSocket(), delay);
  }

  #openResumeSocket() {
    if (this.ended) return;
    let ws;
    try {
      ws = new this.#deps.WebSocket(this.#deps.resumeUrl());
    } catch {
      this.#resumeSignaling();
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (!this.ended && this.ws === ws) this.#send(protocol.viewerResume(this.#resumeToken));
    });
    ws.addEventListener("message", (event) => {
      if (this.ws === ws) this.#onBrokerFrame(event.data);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws || this.ended) return;
      if (this.#resumable(event.code)) this.#resumeSignaling();
      else this.#finish(protocol.closeCodeToken(event.code) ?? "network");
    });
  }

  async #onSocketClose(event) {
    if (this.ended) return;
    if (!this.#opened) {
      // A refused handshake (not signed in, foreign origin) looks like any network failure
      // (1006) to a browser; asking the broker tells them apart.
      let signedIn = true;
      try {
        signedIn = await this.#deps.isSignedIn();
      } catch {
        // unknown: a network failure then
      }
      this.#finish(signedIn ? "network" : "unauthorized");
      return;
    }
    if (this.#resumable(event.code)) {
      this.#resumeSignaling();
      return;
    }
    // Any other close ends the session: without signaling the broker could not end it.
    this.#finish(protocol.closeCodeToken(event.code) ?? "network");
  }
}
