/**
 * The viewer screen: one host's screen in a <video>, keyboard and pointer back over the
 * `input` data channel. The connection itself (ticket, signaling, peer connection, input
 * channel, reconnects) is core/viewer_connection.js, which knows no DOM; this module gives
 * it the browser's classes, renders what it says, and feeds it the person's input.
 *
 * A ticket is earned by this browser's device key signing a fresh broker challenge
 * (app/device_key.js), then POST /api/viewer-tickets (valid 30 s). The picture is blanked
 * the moment a session ends (never a frozen frame).
 *
 * For tests: body[data-connection] is the state (idle, connecting, connected,
 * host_disconnected, disconnected, ended, error, closed), body[data-connection-error] the
 * error token when there is one, body[data-video] "playing" once frames show,
 * body[data-input] "open" while the input channel is open; window.mamoriConnectionLog lists
 * the states passed through.
 *
 * The host's cursor arrives on the same `input` channel (core/cursor.js validates it,
 * app/cursor_overlay.js draws it); a message that fails validation is counted and dropped.
 * So do lossless tiles of settled regions (binary messages, core/tiles.js), drawn over the
 * video by app/tile_overlay.js.
 *
 * A view-only session (the ticket says so, and the broker's `view_only` notice confirms it)
 * sends nothing at all on the channel and says 閲覧のみ; the agent refuses input there anyway.
 * A grant's refusal (no_grant, outside_window, vendor_not_approved) is shown and not retried.
 * body[data-view-only] is "true" during a view-only session.
 *
 * When the clinic allows viewer text (the ticket's text_entry), a text field in the toolbar
 * sends what the person composes there (app/text_field.js); body[data-text-entry] is
 * "viewer" then, "host" otherwise.
 *
 * On a touch device (touch points reported, or a first touch seen) the toolbar offers the
 * touch mode (direct / trackpad, remembered in localStorage, core/touch_mode.js) and a
 * button that raises the on-screen keyboard: it focuses the viewer's text field when the
 * clinic allows viewer text, otherwise a hidden field whose keys go to the host as keys.
 */

import { reconnectPolicy } from "../core/backoff.js";
import { isDeviceError } from "../core/device_proof.js";
import { hasKey, t, translateError } from "../core/i18n.js";
import { ViewerConnection } from "../core/viewer_connection.js";
import { call } from "./api.js";
import { createCanvasVideo } from "./canvas_video.js";
import { createCursorOverlay } from "./cursor_overlay.js";
import { createMonitorSwitcher } from "./monitor_switcher.js";
import { proveDevice } from "./device_key.js";
import { allowsViewerText } from "../core/text_entry.js";
import { attachInput } from "./input_capture.js";
import { attachTextField } from "./text_field.js";
import { createStats } from "./stats.js";
import { createTileOverlay } from "./tile_overlay.js";
import { loadTouchMode, otherTouchMode, saveTouchMode } from "../core/touch_mode.js";
import { VIDEO_PATH_KEY, wantsCanvasPath } from "../core/encoded_frames.js";

const LOG_LIMIT = 50;
// The broker's reasons for refusing a ticket (403) that the viewer explains.
const ACCESS_REFUSALS = new Set(["no_grant", "outside_window", "vendor_not_approved"]);
// States in which the person is told how to get the picture back.
const BROKEN = new Set(["host_disconnected", "disconnected", "error", "ended"]);

/**
 * A fresh ticket for `hostId`, earned by this browser's approved device signing a fresh
 * broker challenge (app/device_key.js), or an error token ("unauthorized", "network",
 * "device_pending", ...).
 */
async function fetchTicket(hostId) {
  const answer = await proveDevice(hostId);
  if (answer.error) return { error: answer.error };
  const { status, body } = await call("POST", "/api/viewer-tickets", { host_id: hostId, ...answer.proof });
  if (status === 201 && body && typeof body.ticket === "string") {
    return {
      ticket: body.ticket,
      viewOnly: body.view_only === true,
      iceServers: body.ice_servers,
      icePolicy: body.ice_policy === "relay" ? "relay" : "all",
      textEntry: body.text_entry,
    };
  }
  if (isDeviceError(body?.error)) return { error: body.error };
  if (status === 403 && body && ACCESS_REFUSALS.has(body.error)) return { error: body.error };
  // The broker sent this sign-in back to the second factor (idle clear-screen).
  if (status === 401 && body?.error === "mfa_required") return { error: "reauth_required" };
  if (status === 401 || status === 403) return { error: "unauthorized" };
  return { error: status === 0 ? "network" : "unexpected" };
}

function socketUrl(ticket) {
  const scheme = window.location.protocol === "http:" ? "ws:" : "wss:";
  return `${scheme}//${window.location.host}/ws/viewer?ticket=${encodeURIComponent(ticket)}`;
}

/** Where the page takes its live session's signaling back after a broker restart. */
function resumeUrl() {
  const scheme = window.location.protocol === "http:" ? "ws:" : "wss:";
  return `${scheme}//${window.location.host}/ws/viewer/resume`;
}

/** Whether the broker still knows this sign-in (the host list answers 401 if not). */
async function isSignedIn() {
  try {
    const response = await fetch("/api/hosts", { credentials: "same-origin", cache: "no-store" });
    return response.status !== 401;
  } catch {
    return true;
  }
}

/**
 * @param {object} els the viewer's elements (see app/viewer_page.js), `hostName(hostId)`
 *   and `onReauth()` (the broker wants the second factor again)
 */
export function createViewer(els) {
  const video = els.video;
  // Opt-in until measured (README, latency at display): ?video=canvas or the stored setting.
  const canvasVideo = createCanvasVideo(video, wantsCanvasPath(window.location.search, storage()?.getItem(VIDEO_PATH_KEY)));
  const cursor = createCursorOverlay(video, video.parentElement);
  // Under the cursor, over the video.
  // Tells the host once it draws, so that the video stops refining what the tiles cover.
  const tiles = createTileOverlay(video, video.parentElement, document.getElementById("remote-cursor"), (ok) =>
    connection.reportTileOverlay(ok),
  );
  const stats = createStats({
    overlay: els.statsOverlay,
    list: els.statsList,
    toggle: els.statsToggle,
    quality: els.quality,
    frozen: els.frozen,
    video,
  });
  const connection = new ViewerConnection({
    fetchTicket,
    socketUrl,
    resumeUrl,
    isSignedIn,
    WebSocket: window.WebSocket,
    RTCPeerConnection: window.RTCPeerConnection,
    videoCodecs: () => window.RTCRtpReceiver?.getCapabilities?.("video")?.codecs,
  });
  let view = connection.snapshot();
  let countdown = null;

  window.mamoriConnectionLog = [];

  // ---- status -------------------------------------------------------------------------

  function log(state, error) {
    const entries = window.mamoriConnectionLog;
    const last = entries[entries.length - 1];
    if (!last || last.state !== state || last.error !== error) {
      entries.push({ state, error, at: Date.now() });
    }
    if (entries.length > LOG_LIMIT) entries.splice(0, entries.length - LOG_LIMIT);
  }

  function problemText() {
    if (view.state === "ended") {
      const key = `bye.${view.byeReason}`;
      return hasKey(key) ? t(key) : t("bye.unknown", { reason: view.byeReason });
    }
    if (view.error && view.state !== "host_disconnected") return translateError(view.error);
    return "";
  }

  function render() {
    const connected = view.state === "connected";
    const headline = t(`state.${view.state}`);
    const detail = [];
    if (view.state === "connecting" && view.attempt > 0) detail.push(t("viewer.attempt", { attempt: view.attempt }));
    const problem = problemText();
    if (problem) detail.push(problem);
    if (view.viewOnly && connected) detail.push(t("viewer.viewOnly"));
    if (view.notice && connected) {
      detail.push(t(`notice.${view.notice.code}`, { minutes: Math.max(1, Math.ceil(view.notice.secondsLeft / 60)) }));
    }
    // A refusal only a person can lift (register this browser, an admin's grant or
    // approval, signing in again) says what to do instead of offering 再接続, which
    // cannot help.
    const final = Boolean(view.error) && !reconnectPolicy(view.error).retry;
    if (view.retryAt !== null) {
      const seconds = Math.max(1, Math.ceil((view.retryAt - Date.now()) / 1000));
      detail.push(t("viewer.retryIn", { seconds }));
    } else if (BROKEN.has(view.state) && !final) {
      detail.push(t("viewer.retryManual"));
    }
    els.reconnect.hidden = final;
    els.statusText.textContent = headline;
    els.statusDetail.textContent = detail.join(" ");
    // The big message over the blank stage repeats the status bar for sighted users.
    els.message.textContent = connected || view.state === "idle" ? "" : [headline, ...detail].join("\n");
  }

  function showTitle() {
    const name = (view.hostId && els.hostName(view.hostId)) || view.hostId || "";
    els.title.textContent = name;
    video.setAttribute("aria-label", t(view.viewOnly ? "viewer.videoLabelViewOnly" : "viewer.videoLabel", { host: name }));
    if (view.hostId) document.title = `${name} — ${t("app.title")}`;
  }

  connection.on("state", (next) => {
    view = next;
    const body = document.body.dataset;
    body.connection = next.state;
    if (next.error) body.connectionError = next.error;
    else delete body.connectionError;
    body.viewOnly = next.viewOnly ? "true" : "false";
    // The viewer's own text field, when the clinic allows viewer text (the agent checks
    // the same setting and refuses text otherwise).
    const textAllowed = allowsViewerText(next.textEntry) && !next.viewOnly;
    els.textBox.hidden = !textAllowed;
    body.textEntry = textAllowed ? "viewer" : "host";
    renderTouchControls();
    els.status.dataset.state = next.state;
    log(next.state, next.error);
    if (next.state === "connected" && next.previous !== "connected") {
      video.hidden = false;
      stats.start(connection.peerConnection);
      if (document.activeElement === document.body || document.activeElement === null) {
        video.focus({ preventScroll: true });
      }
    }
    // While a retry is pending the countdown is redrawn every second.
    clearInterval(countdown);
    countdown = next.retryAt !== null ? setInterval(render, 1000) : null;
    if (next.hostId) showTitle();
    render();
  });

  // ---- video --------------------------------------------------------------------------

  function blankVideo() {
    canvasVideo.detach();
    video.srcObject = null;
    video.hidden = true;
    cursor.reset();
    tiles.reset();
    monitors.reset();
    document.body.dataset.video = "none";
  }

  function markPlaying() {
    if (connection.peerConnection && video.videoWidth > 0 && video.srcObject) {
      document.body.dataset.video = "playing";
    }
  }

  connection.on("receiver", ({ receiver }) => canvasVideo.attach(receiver));
  connection.on("track", ({ track, streams }) => {
    video.srcObject = streams[0] ?? new MediaStream([track]);
    video.play().catch(() => {});
  });
  connection.on("blank", () => {
    blankVideo();
    stats.stop();
  });
  video.addEventListener("playing", markPlaying);
  video.addEventListener("resize", markPlaying);

  // ---- input: app/input_capture.js ---------------------------------------------------

  const input = attachInput(video, {
    // View only: no channel to send on, so not even a key release leaves the page.
    channel: () => connection.inputChannel(),
    live: () => connection.live && !video.hidden,
    toggleStats: () => stats.toggle(),
    viewerShown: () => connection.hostId !== null,
    // Audited by the broker: someone tried to bring data into the session.
    blocked: (kind) => {
      if (connection.hostId) call("POST", "/api/viewer-events", { kind, host_id: connection.hostId });
    },
    pointer: (point) => cursor.localPointer(point),
    zoomed: (view) => {
      cursor.zoomed(view);
      tiles.zoomed(view);
    },
    hostCursor: () => cursor.hostPosition(),
    touchMode: touchMode(),
  });
  input.captureKeys(els.keys);

  // ---- touch controls -----------------------------------------------------------------

  function storage() {
    try {
      return window.localStorage;
    } catch {
      return null; // storage refused: the mode is not remembered
    }
  }

  function touchMode() {
    return loadTouchMode(storage());
  }

  function renderTouchControls() {
    const mode = touchMode();
    els.touchMode.textContent = t(mode === "trackpad" ? "viewer.touchTrackpad" : "viewer.touchDirect");
    els.touchMode.setAttribute("aria-pressed", mode === "trackpad" ? "true" : "false");
    // Nothing to type into a view-only session.
    els.keyboard.disabled = view.viewOnly;
  }

  function showTouchControls() {
    els.touchMode.hidden = false;
    els.keyboard.hidden = false;
    renderTouchControls();
  }

  if (navigator.maxTouchPoints > 0) showTouchControls();
  // A touch screen that says nothing up front shows itself with its first touch.
  document.addEventListener(
    "pointerdown",
    (event) => {
      if (event.pointerType === "touch" && els.touchMode.hidden) showTouchControls();
    },
    true,
  );

  els.touchMode.addEventListener("click", () => {
    const next = otherTouchMode(touchMode());
    saveTouchMode(storage(), next);
    input.setTouchMode(next);
    renderTouchControls();
  });

  // Focus from this click (a user gesture) is what lets a tablet raise its keyboard.
  els.keyboard.addEventListener("click", () => {
    if (!els.textBox.hidden) els.textField.focus();
    else els.keys.focus({ preventScroll: true });
  });

  const textField = attachTextField(els.textField, {
    send: (message) => {
      const dc = connection.inputChannel();
      if (!dc || dc.readyState !== "open") return false;
      try {
        dc.send(message);
        return true;
      } catch {
        return false; // channel closing; the session end handles it
      }
    },
    blocked: (kind) => {
      if (connection.hostId) call("POST", "/api/viewer-events", { kind, host_id: connection.hostId });
    },
  });

  connection.on("input", ({ open }) => {
    document.body.dataset.input = open ? "open" : "closed";
    if (!open) {
      input.forget();
      textField.forget();
    }
  });
  connection.on("cursor", ({ message }) => cursor.handle(message));
  connection.on("cursorinvalid", () => cursor.rejected());
  connection.on("tiles", ({ message }) => tiles.handle(message));
  connection.on("tilesinvalid", ({ reason }) => {
    tiles.rejected();
    console.warn("tile message dropped:", reason);
  });
  const monitors = createMonitorSwitcher(els.monitorSelect, els.monitorBox, (id) => connection.chooseMonitor(id));
  connection.on("monitors", ({ message }) => monitors.handle(message));
  connection.on("reauth", () => els.onReauth());
  els.reconnect.addEventListener("click", () => connection.reconnect());

  blankVideo();
  document.body.dataset.input = "closed";
  document.body.dataset.viewOnly = "false";

  return {
    /** Show `hostId`'s screen, connecting now. Opening the host already shown does nothing. */
    open(hostId) {
      connection.open(hostId);
    },
    /** End the session (bye, then close) and stop reconnecting. */
    close(reason = "viewer_left") {
      connection.close(reason);
    },
    relabel() {
      showTitle();
      render();
      renderTouchControls();
      stats.relabel();
      monitors.relabel();
    },
  };
}
