/**
 * The viewer: one host's screen in a <video>, keyboard and pointer back over the `input`
 * data channel.
 *
 * A session: this browser's device key signs a fresh broker challenge (app/device_key.js)
 * -> a single-use ticket (POST /api/viewer-tickets, valid 30 s) -> WebSocket
 * /ws/viewer?ticket=... (the session cookie rides along) -> viewer_join -> RTCPeerConnection (recvonly video,
 * data channel `input`) -> offer + trickled ICE -> answer + ICE from the agent. It ends on
 * bye, an error, the socket closing, or the peer connection failing (or staying
 * disconnected for 3 s); the picture is blanked at once (never a frozen frame) and, unless
 * the reason rules it out, a new session starts after a backoff delay (core/backoff.js).
 *
 * For tests: body[data-connection] is the state (idle, connecting, connected,
 * host_disconnected, disconnected, ended, error, closed), body[data-connection-error] the
 * error token when there is one, body[data-video] "playing" once frames show,
 * body[data-input] "open" while the input channel is open; window.mamoriConnectionLog lists
 * the states passed through.
 *
 * The host's cursor arrives on the same `input` channel (core/cursor.js validates it,
 * app/cursor_overlay.js draws it); a message that fails validation is counted and dropped.
 *
 * A view-only session (the ticket says so, and the broker's `view_only` notice confirms it)
 * sends nothing at all on the channel and says 閲覧のみ; the agent refuses input there anyway.
 * A grant's refusal (no_grant, outside_window, vendor_not_approved) is shown and not retried.
 * body[data-view-only] is "true" during a view-only session.
 */

import { backoffDelay, reconnectPolicy } from "../core/backoff.js";
import { preferH264 } from "../core/codecs.js";
import { isDeviceError } from "../core/device_proof.js";
import { HostMessageError, parseHostMessage } from "../core/cursor.js";
import { hasKey, t, translateError } from "../core/i18n.js";
import * as protocol from "../core/protocol.js";
import { call } from "./api.js";
import { createCursorOverlay } from "./cursor_overlay.js";
import { proveDevice } from "./device_key.js";
import { attachInput } from "./input_capture.js";
import { createStats } from "./stats.js";

// A brief ICE "disconnected" often recovers by itself; past 3 s the picture is stale.
const DISCONNECT_GRACE_MS = 3000;
const LOG_LIMIT = 50;
// The broker's reasons for refusing a ticket (403) that the viewer explains.
const ACCESS_REFUSALS = new Set(["no_grant", "outside_window", "vendor_not_approved"]);

/**
 * @param {object} els the viewer's elements (see app/main.js) and `hostName(hostId)`
 */
export function createViewer(els) {
  const video = els.video;
  const cursor = createCursorOverlay(video, video.parentElement);
  const stats = createStats({
    overlay: els.statsOverlay,
    list: els.statsList,
    toggle: els.statsToggle,
  });

  let hostId = null;
  let session = null;
  let attempt = 0;
  let state = "idle";
  let errorToken = null;
  let byeReason = null;
  let retryTimer = null;
  let retryAt = null;
  let countdown = null;
  let notice = null; // a broker notice for the live session (e.g. ending soon)
  let viewOnly = false; // the grant allows the picture only: nothing is sent to the host

  window.mamoriConnectionLog = [];

  // ---- state and status ---------------------------------------------------------------

  function setState(next, token = null) {
    state = next;
    errorToken = token;
    const body = document.body.dataset;
    body.connection = next;
    if (token) body.connectionError = token;
    else delete body.connectionError;
    els.status.dataset.state = next;
    const log = window.mamoriConnectionLog;
    const last = log[log.length - 1];
    if (!last || last.state !== next || last.error !== token) {
      log.push({ state: next, error: token, at: Date.now() });
    }
    if (log.length > LOG_LIMIT) log.splice(0, log.length - LOG_LIMIT);
    render();
  }

  function problemText() {
    if (state === "ended") {
      const key = `bye.${byeReason}`;
      return hasKey(key) ? t(key) : t("bye.unknown", { reason: byeReason });
    }
    if (errorToken && state !== "host_disconnected") return translateError(errorToken);
    return "";
  }

  function render() {
    const headline = t(`state.${state}`);
    const detail = [];
    if (state === "connecting" && attempt > 0) detail.push(t("viewer.attempt", { attempt }));
    const problem = problemText();
    if (problem) detail.push(problem);
    if (viewOnly && state === "connected") detail.push(t("viewer.viewOnly"));
    if (notice && state === "connected") detail.push(notice);
    if (retryAt !== null) {
      const seconds = Math.max(1, Math.ceil((retryAt - Date.now()) / 1000));
      detail.push(t("viewer.retryIn", { seconds }));
    } else if (["host_disconnected", "disconnected", "error", "ended"].includes(state)) {
      detail.push(t("viewer.retryManual"));
    }
    els.statusText.textContent = headline;
    els.statusDetail.textContent = detail.join(" ");
    // The big message over the blank stage repeats the status bar for sighted users.
    els.message.textContent = state === "connected" || state === "idle" ? "" : [headline, ...detail].join("\n");
  }

  function setViewOnly(on) {
    viewOnly = on;
    document.body.dataset.viewOnly = on ? "true" : "false";
    showTitle();
  }

  function showTitle() {
    const name = (hostId && els.hostName(hostId)) || hostId || "";
    els.title.textContent = name;
    video.setAttribute("aria-label", t(viewOnly ? "viewer.videoLabelViewOnly" : "viewer.videoLabel", { host: name }));
    if (hostId) document.title = `${name} — ${t("app.title")}`;
  }

  // ---- video --------------------------------------------------------------------------

  function blankVideo() {
    video.srcObject = null;
    video.hidden = true;
    cursor.reset();
    document.body.dataset.video = "none";
  }

  function markPlaying() {
    if (session && video.videoWidth > 0 && video.srcObject) {
      document.body.dataset.video = "playing";
    }
  }

  video.addEventListener("playing", markPlaying);
  video.addEventListener("resize", markPlaying);

  // ---- session ------------------------------------------------------------------------

  function socketUrl(ticket) {
    const scheme = window.location.protocol === "http:" ? "ws:" : "wss:";
    return `${scheme}//${window.location.host}/ws/viewer?ticket=${encodeURIComponent(ticket)}`;
  }

  /**
   * A fresh ticket for `id`, earned by this browser's approved device signing a fresh
   * broker challenge (app/device_key.js), or an error token ("unauthorized", "network",
   * "device_pending", ...).
   */
  async function fetchTicket(id) {
    const answer = await proveDevice(id);
    if (answer.error) return { error: answer.error };
    const { status, body } = await call("POST", "/api/viewer-tickets", { host_id: id, ...answer.proof });
    if (status === 201 && body && typeof body.ticket === "string") {
      return { ticket: body.ticket, viewOnly: body.view_only === true };
    }
    if (isDeviceError(body?.error)) return { error: body.error };
    if (status === 403 && body && ACCESS_REFUSALS.has(body.error)) return { error: body.error };
    if (status === 401 || status === 403) return { error: "unauthorized" };
    return { error: status === 0 ? "network" : "unexpected" };
  }

  function send(s, text) {
    if (s.ws && s.ws.readyState === WebSocket.OPEN) s.ws.send(text);
  }

  function connect() {
    clearRetry();
    const s = {
      ws: null,
      pc: null,
      dc: null,
      opened: false,
      offerSent: false,
      remoteSet: false,
      endSent: false,
      localIce: [],
      remoteIce: [],
      graceTimer: null,
      ended: false,
    };
    session = s;
    setViewOnly(false);
    setState("connecting");
    fetchTicket(hostId).then((grant) => {
      if (s !== session || s.ended) return;
      if (grant.error) {
        end(s, grant.error);
        return;
      }
      setViewOnly(grant.viewOnly);
      openSocket(s, grant.ticket);
    });
  }

  function openSocket(s, ticket) {
    try {
      s.ws = new WebSocket(socketUrl(ticket));
    } catch {
      end(s, "network");
      return;
    }
    s.ws.addEventListener("open", () => {
      if (s !== session || s.ended) return;
      s.opened = true;
      send(s, protocol.viewerJoin(hostId));
      startPeer(s).catch(() => end(s, "webrtc"));
    });
    s.ws.addEventListener("message", (event) => onBrokerFrame(s, event.data));
    s.ws.addEventListener("close", (event) => onSocketClose(s, event));
  }

  async function startPeer(s) {
    // Localhost and LAN need no STUN; TURN credentials will come from the broker.
    const pc = new RTCPeerConnection({ iceServers: [] });
    s.pc = pc;
    const dc = pc.createDataChannel("input", { ordered: true });
    s.dc = dc;
    dc.addEventListener("open", () => {
      if (s === session) document.body.dataset.input = "open";
    });
    dc.addEventListener("close", () => {
      // The agent closing its peer closes SCTP; ICE may still look "connected" for a while
      // and the picture would freeze, so a lost input channel ends the session.
      if (s === session && !s.ended) end(s, "peer_failed");
    });
    // Host -> browser on this channel: the cursor only, in a closed schema.
    dc.addEventListener("message", (event) => {
      if (s !== session || s.ended) return;
      let message;
      try {
        message = parseHostMessage(event.data);
      } catch (err) {
        if (!(err instanceof HostMessageError)) throw err;
        cursor.rejected();
        return;
      }
      cursor.handle(message);
    });

    const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
    const caps = window.RTCRtpReceiver?.getCapabilities?.("video");
    const order = preferH264(caps?.codecs);
    if (order && typeof transceiver.setCodecPreferences === "function") {
      try {
        transceiver.setCodecPreferences(order);
      } catch {
        // Browser's own order then; the agent still picks H.264 if offered.
      }
    }
    lowLatency(transceiver.receiver);

    pc.addEventListener("track", (event) => {
      if (s !== session || s.ended) return;
      lowLatency(event.receiver);
      video.srcObject = event.streams[0] ?? new MediaStream([event.track]);
      video.play().catch(() => {});
    });
    pc.addEventListener("icecandidate", (event) => onLocalCandidate(s, event.candidate));
    pc.addEventListener("connectionstatechange", () => onPeerState(s));

    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    if (s !== session || s.ended) return;
    send(s, protocol.offer(pc.localDescription.sdp));
    s.offerSent = true;
    for (const text of s.localIce.splice(0)) send(s, text);
  }

  function lowLatency(receiver) {
    // Show each frame as soon as it is decoded: a remote desktop wants the newest picture,
    // not a smooth one. jitterBufferTarget is the standard name (ms), playoutDelayHint
    // Chromium's older one (s).
    try {
      receiver.jitterBufferTarget = 0;
    } catch {
      // unsupported
    }
    try {
      receiver.playoutDelayHint = 0;
    } catch {
      // unsupported
    }
  }

  function onLocalCandidate(s, candidate) {
    if (s !== session || s.ended) return;
    let text;
    if (!candidate || !candidate.candidate) {
      // End of candidates: sent once, as an empty candidate.
      if (s.endSent) return;
      s.endSent = true;
      text = protocol.ice("");
    } else {
      try {
        text = protocol.ice(candidate.candidate, candidate.sdpMid ?? null, candidate.sdpMLineIndex ?? null);
      } catch {
        return; // a candidate the broker would refuse is not worth losing the session over
      }
    }
    if (s.offerSent) send(s, text);
    else s.localIce.push(text);
  }

  function onBrokerFrame(s, data) {
    if (s !== session || s.ended) return;
    let message;
    try {
      message = protocol.parseBrokerMessage(data);
    } catch (err) {
      if (!(err instanceof protocol.ProtocolError)) throw err;
      end(s, protocol.closeCodeToken(err.closeCode) ?? "malformed", err.closeCode);
      return;
    }
    switch (message.type) {
      case "answer":
        applyAnswer(s, message.sdp);
        break;
      case "ice":
        addRemoteCandidate(s, message);
        break;
      case "bye":
        if (message.reason === "host_disconnected") {
          end(s, "host_disconnected");
        } else if (message.reason === "idle_timeout") {
          // クリアスクリーン: the broker now wants the second factor again; the sign-in
          // pages ask for it, then the host list opens.
          byeReason = message.reason;
          end(s, "bye");
          window.location.hash = "#/login";
        } else {
          byeReason = message.reason;
          end(s, "bye");
        }
        break;
      case "error":
        // The broker closes the socket right after; its code adds nothing to this token.
        end(s, message.code);
        break;
      case "notice":
        if (message.code === "view_only") {
          // The broker's word at join outranks the ticket's (a grant may have changed).
          setViewOnly(true);
        } else {
          notice = t(`notice.${message.code}`, {
            minutes: Math.max(1, Math.ceil(message.seconds_left / 60)),
          });
        }
        render();
        break;
      default:
        throw new Error(`unhandled broker message ${message.type}`);
    }
  }

  async function applyAnswer(s, sdp) {
    const pc = s.pc;
    if (!pc || pc.signalingState !== "have-local-offer") {
      end(s, "unexpected", protocol.CloseCode.UNEXPECTED);
      return;
    }
    try {
      await pc.setRemoteDescription({ type: "answer", sdp });
    } catch {
      end(s, "webrtc");
      return;
    }
    if (s !== session || s.ended) return;
    s.remoteSet = true;
    for (const message of s.remoteIce.splice(0)) addRemoteCandidate(s, message);
  }

  function addRemoteCandidate(s, message) {
    if (!s.remoteSet) {
      s.remoteIce.push(message);
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
    s.pc.addIceCandidate(init).catch(() => {
      // A candidate this browser cannot use (or a late end-of-candidates) is not fatal.
    });
  }

  function onPeerState(s) {
    if (s !== session || s.ended) return;
    const pcState = s.pc.connectionState;
    if (pcState === "connected") {
      clearTimeout(s.graceTimer);
      s.graceTimer = null;
      if (state !== "connected") {
        attempt = 0;
        video.hidden = false;
        setState("connected");
        stats.start(s.pc);
        if (document.activeElement === document.body || document.activeElement === null) {
          video.focus({ preventScroll: true });
        }
      }
    } else if (pcState === "disconnected") {
      if (s.graceTimer === null) {
        s.graceTimer = setTimeout(() => end(s, "peer_failed"), DISCONNECT_GRACE_MS);
      }
    } else if (pcState === "failed") {
      end(s, "peer_failed");
    }
  }

  async function onSocketClose(s, event) {
    if (s !== session || s.ended) return;
    if (!s.opened) {
      // A refused handshake (not signed in, foreign origin) looks like any network failure
      // (1006) to a browser; the host list's 401 tells them apart.
      const token = (await signedIn()) ? "network" : "unauthorized";
      if (s === session && !s.ended) end(s, token);
      return;
    }
    // Any other close ends the session: without signaling the broker could not end it.
    end(s, protocol.closeCodeToken(event.code) ?? "network");
  }

  async function signedIn() {
    try {
      const response = await fetch("/api/hosts", { credentials: "same-origin", cache: "no-store" });
      return response.status !== 401;
    } catch {
      return true;
    }
  }

  /** Close everything of `s`; `byeReason` set means tell the broker why first. */
  function teardown(s, { bye = null, closeCode = protocol.CloseCode.NORMAL } = {}) {
    s.ended = true;
    clearTimeout(s.graceTimer);
    if (bye) {
      try {
        send(s, protocol.bye(bye));
      } catch {
        // socket already gone
      }
    }
    // Browsers only let a page close with 1000 or 3000-4999.
    const code = closeCode === 1000 || (closeCode >= 3000 && closeCode <= 4999) ? closeCode : 1000;
    try {
      s.ws?.close(code);
    } catch {
      // already closed
    }
    try {
      s.pc?.close();
    } catch {
      // already closed
    }
    if (session === s) {
      session = null;
      input.forget();
      document.body.dataset.input = "closed";
    }
  }

  function end(s, token, closeCode = protocol.CloseCode.NORMAL) {
    if (s.ended) return;
    notice = null;
    const viewerSide = token === "peer_failed" || token === "webrtc";
    teardown(s, { bye: viewerSide ? token : null, closeCode });
    blankVideo();
    stats.stop();
    if (token === "bye") {
      setState("ended", byeReason);
      return;
    }
    const policy = reconnectPolicy(token);
    if (policy.retry) scheduleRetry(policy.minMs);
    setState(policy.state, token);
  }

  // ---- reconnect ----------------------------------------------------------------------

  function clearRetry() {
    clearTimeout(retryTimer);
    clearInterval(countdown);
    retryTimer = null;
    countdown = null;
    retryAt = null;
  }

  function scheduleRetry(minMs) {
    clearRetry();
    const delay = backoffDelay(attempt, Math.random, { minMs });
    attempt += 1;
    retryAt = Date.now() + delay;
    retryTimer = setTimeout(() => {
      clearRetry();
      if (hostId && !session) connect();
    }, delay);
    countdown = setInterval(render, 1000);
  }

  function reconnectNow() {
    if (!hostId) return;
    clearRetry();
    if (session) {
      const old = session;
      teardown(old, { bye: "viewer_left" });
      blankVideo();
      stats.stop();
      // Let the broker see the old session go before joining again (else: host_busy).
      attempt = 0;
      setState("connecting");
      old.ws?.addEventListener("close", () => {
        if (!session && hostId) connect();
      });
      setTimeout(() => {
        if (!session && hostId) connect();
      }, 1500);
      return;
    }
    attempt = 0;
    connect();
  }

  els.reconnect.addEventListener("click", reconnectNow);

  // ---- input: app/input_capture.js ---------------------------------------------------

  const input = attachInput(video, {
    // View only: no channel to send on, so not even a key release leaves the page.
    channel: () => (viewOnly ? null : (session?.dc ?? null)),
    live: () => state === "connected" && session !== null && !video.hidden,
    toggleStats: () => stats.toggle(),
    viewerShown: () => hostId !== null,
    // Audited by the broker: someone tried to bring data into the session.
    blocked: (kind) => {
      if (hostId) call("POST", "/api/viewer-events", { kind, host_id: hostId });
    },
    pointer: (point) => cursor.localPointer(point),
  });

  blankVideo();
  document.body.dataset.input = "closed";
  document.body.dataset.viewOnly = "false";

  return {
    /** Show `id`'s screen, connecting now. Opening the host already shown does nothing. */
    open(id) {
      if (id === hostId && (session || retryTimer)) return;
      this.close("viewer_left");
      hostId = id;
      attempt = 0;
      byeReason = null;
      showTitle();
      connect();
    },
    /** End the session (bye, then close) and stop reconnecting. */
    close(reason = "viewer_left") {
      clearRetry();
      const wasOpen = hostId !== null;
      hostId = null;
      if (session) teardown(session, { bye: reason });
      blankVideo();
      stats.stop();
      if (wasOpen) setState("closed");
    },
    relabel() {
      showTitle();
      render();
      stats.relabel();
    },
  };
}
