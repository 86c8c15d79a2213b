/**
 * Keyboard and pointer capture on the remote <video>, sent over the `input` data channel
 * (message forms in core/input.js, mirrored by host_agent/input/events.py).
 *
 * Pointer: moves at most once per animation frame; buttons with pointer capture, so a
 * button pressed in the picture is released even outside it (at the nearest edge); points
 * in the letterbox bars are not sent. Wheel: notches. Keys: everything goes to the host
 * with its `code` and `key` (Tab, Backspace, F-keys, Japanese keys, keys the local IME
 * calls "Process") except Ctrl+Alt+S, the local stats shortcut. Focus lost or page hidden:
 * `{"t":"release"}`. Paste and drop are swallowed: nothing but events leaves this page.
 *
 * Touch (Pointer Events with pointerType "touch", never the browser's mouse emulation)
 * goes through core/gestures.js in the person's mode (core/touch_mode.js): direct, a tap
 * clicks where the finger touched and a drag moves the cursor there; trackpad, a drag moves
 * the cursor relatively and a tap clicks where it is. In both a long press or a two-finger
 * tap right-clicks and two fingers scroll. A pinch zooms and pans the picture here only
 * (core/zoom.js, a CSS transform on the video): nothing is sent for it, and every point is
 * mapped through the zoom so a tap lands on the host pixel shown under the finger. The
 * zoom returns to fit when the page's width (orientation) or the host's screen changes.
 * body[data-zoom] is the zoom factor (two decimals), body[data-touch-mode] the mode.
 */

import { GestureRecognizer } from "../core/gestures.js";
import { nudgeCursor, trackpadStart } from "../core/touch_mode.js";
import { bound, FIT, frameOf, panBy, screenToHost, transformCss, zoomAround } from "../core/zoom.js";
import {
  buttonMessage,
  isButtonHeld,
  isStatsShortcut,
  keyMessage,
  MAX_BUTTON,
  MAX_WHEEL_STEPS,
  moveMessage,
  releaseMessage,
  wheelMessage,
  wheelNotches,
} from "../core/input.js";

// Pointer moves are dropped (never clicks or keys) while this much is queued on the channel.
const MOVE_BUFFER_LIMIT = 16 * 1024;

/**
 * @param {HTMLVideoElement} video
 * @param {object} hooks
 * @param {() => RTCDataChannel | null} hooks.channel the current session's `input` channel
 * @param {() => boolean} hooks.live whether a picture is shown and input may flow
 * @param {() => void} hooks.toggleStats
 * @param {() => boolean} hooks.viewerShown whether the viewer screen is open (for the
 *   shortcut when focus is elsewhere on the page)
 * @param {(kind: string) => void} [hooks.blocked] told of each swallowed paste or drop
 *   ("paste_blocked", "drop_blocked") so the broker can audit it
 * @param {(point: {x: number, y: number} | null) => void} [hooks.pointer] the local pointer
 *   in host pixels on every move over the picture, null when it leaves (draws the cursor)
 * @param {(view: {scale: number, x: number, y: number}) => void} [hooks.zoomed] the local
 *   zoom changed (the cursor overlay follows it)
 * @param {() => ({x: number, y: number} | null)} [hooks.hostCursor] where the host's cursor
 *   last was (the trackpad cursor starts there)
 * @param {"direct" | "trackpad"} [hooks.touchMode] the touch mode to start in
 * @returns {{forget: () => void, setTouchMode: (mode: string) => void,
 *   fit: () => void, captureKeys: (field: HTMLElement) => void}} forget: drop held-button
 *   and pending-move state when a session ends (the host releases everything itself when
 *   its peer goes); fit: back to the unzoomed picture; captureKeys: keys typed in `field`
 *   (the on-screen keyboard's hidden input) go to the host as keys.
 */
export function attachInput(video, hooks) {
  let pendingMove = null;
  let moveFrame = 0;
  const held = new Set();

  function sendInput(text, droppable = false) {
    const dc = hooks.channel();
    if (!dc || dc.readyState !== "open") return;
    if (droppable && dc.bufferedAmount > MOVE_BUFFER_LIMIT) return;
    try {
      dc.send(text);
    } catch {
      // channel closing; the session end handles it
    }
  }

  // ---- local zoom: core/zoom.js -------------------------------------------------------

  let view = FIT;

  // The video's untransformed box: the stage it fills (its own rect is the zoomed one).
  const layoutBox = () => video.parentElement.getBoundingClientRect();

  function frame() {
    const box = layoutBox();
    return frameOf(box.width, box.height, video.videoWidth, video.videoHeight);
  }

  function applyView(next) {
    view = next;
    video.style.transformOrigin = "0 0";
    video.style.transform = transformCss(view);
    document.body.dataset.zoom = view.scale.toFixed(2);
    hooks.zoomed?.(view);
  }

  function fit() {
    applyView(FIT);
  }

  // A rotated tablet or a resized window shows the whole picture again, as does a host
  // whose screen changed size: an old zoom would point somewhere else. A change of height
  // alone is a tablet's on-screen keyboard coming or going: the zoom stays (kept within
  // the picture), or it would be lost each time the person starts typing.
  let zoomedWidth = 0; // the box's width when the person last pinched
  function onResize() {
    if (layoutBox().width !== zoomedWidth) fit();
    else applyView(bound(view, frame()));
  }
  fit();
  window.addEventListener("resize", onResize);
  window.addEventListener("orientationchange", fit);
  video.addEventListener("resize", fit);

  /** The host pixel under a client point, through the zoom; null in the bars unless clamp. */
  function toHost(clientX, clientY, clamp) {
    if (!hooks.live()) return null;
    return screenToHost(view, clientX, clientY, layoutBox(), video.videoWidth, video.videoHeight, { clamp });
  }

  function mapEvent(event, clamp) {
    return toHost(event.clientX, event.clientY, clamp);
  }

  function flushMove() {
    if (moveFrame) cancelAnimationFrame(moveFrame);
    moveFrame = 0;
    if (pendingMove) {
      sendInput(moveMessage(pendingMove.x, pendingMove.y), true);
      pendingMove = null;
    }
  }

  function pressButton(button, point) {
    if (button < 0 || button > MAX_BUTTON || held.has(button)) return;
    flushMove();
    held.add(button);
    sendInput(buttonMessage(true, button, point.x, point.y));
  }

  function releaseButton(button, point) {
    if (!held.has(button)) return;
    flushMove();
    held.delete(button);
    sendInput(buttonMessage(false, button, point.x, point.y));
  }

  function releaseAll() {
    pendingMove = null;
    held.clear();
    sendInput(releaseMessage());
  }

  // ---- touch: core/gestures.js --------------------------------------------------------

  const gestures = new GestureRecognizer(hooks.touchMode ?? "direct");
  let lastTouchPoint = null; // host pixels of the last finger position mapped
  let trackpadPoint = null; // the trackpad cursor, fractional host pixels
  let longPressTimer = 0;
  document.body.dataset.touchMode = gestures.mode;

  function hostPoint(x, y) {
    return toHost(x, y, false);
  }

  /** The trackpad cursor, placed at the host's cursor the first time. */
  function trackpadCursor() {
    if (!hooks.live() || !(video.videoWidth > 0)) return null;
    if (!trackpadPoint) trackpadPoint = trackpadStart(hooks.hostCursor?.() ?? null, video.videoWidth, video.videoHeight);
    return trackpadPoint;
  }

  function perform(actions) {
    for (const action of actions) {
      switch (action.kind) {
        case "point": {
          const point = hostPoint(action.x, action.y);
          if (point) {
            lastTouchPoint = point;
            sendInput(moveMessage(point.x, point.y), true);
          }
          break;
        }
        case "nudge": {
          const from = trackpadCursor();
          const moved = from && nudgeCursor(from, action.dx, action.dy, view, frame(), video.videoWidth, video.videoHeight);
          if (moved) {
            trackpadPoint = moved.point;
            lastTouchPoint = moved.host;
            sendInput(moveMessage(moved.host.x, moved.host.y), true);
            hooks.pointer?.(moved.host); // the cursor is drawn at once, not a round trip later
          }
          break;
        }
        case "click": {
          let point = action.at ? hostPoint(action.at.x, action.at.y) : lastTouchPoint;
          if (!point && !action.at) {
            const start = trackpadCursor();
            point = start && { x: Math.round(start.x), y: Math.round(start.y) };
          }
          if (!point) break;
          lastTouchPoint = point;
          flushMove();
          sendInput(buttonMessage(true, action.button, point.x, point.y));
          sendInput(buttonMessage(false, action.button, point.x, point.y));
          break;
        }
        case "scroll": {
          // Where the cursor is: in trackpad mode before any stroke placed it, that is
          // where the trackpad cursor starts (as for a tap), or a first scroll is lost.
          let point = lastTouchPoint;
          if (!point && gestures.mode === "trackpad") {
            const start = trackpadCursor();
            point = start && { x: Math.round(start.x), y: Math.round(start.y) };
          }
          if (point) {
            lastTouchPoint = point;
            const clampSteps = (n) => Math.max(-MAX_WHEEL_STEPS, Math.min(MAX_WHEEL_STEPS, n));
            flushMove();
            sendInput(wheelMessage(clampSteps(action.dx), clampSteps(action.dy), point.x, point.y));
          }
          break;
        }
        case "zoom": {
          const box = layoutBox();
          zoomedWidth = box.width;
          applyView(zoomAround(view, action.factor, action.cx - box.left, action.cy - box.top, frame()));
          break;
        }
        case "pan":
          applyView(panBy(view, action.dx, action.dy, frame()));
          break;
        default:
          throw new Error(`unknown gesture action ${action.kind}`);
      }
    }
    scheduleLongPress();
  }

  function scheduleLongPress() {
    clearTimeout(longPressTimer);
    const deadline = gestures.nextDeadline();
    if (deadline === null) return;
    longPressTimer = setTimeout(() => perform(gestures.tick(performance.now())), Math.max(0, deadline - performance.now()));
  }

  function onTouch(event) {
    event.preventDefault();
    switch (event.type) {
      case "pointerdown":
        video.focus({ preventScroll: true });
        try {
          video.setPointerCapture(event.pointerId);
        } catch {
          // pointer already gone
        }
        perform(gestures.down(event.pointerId, event.clientX, event.clientY, event.timeStamp));
        break;
      case "pointermove":
        perform(gestures.move(event.pointerId, event.clientX, event.clientY));
        break;
      case "pointerup":
        perform(gestures.up(event.pointerId, event.timeStamp));
        break;
      default:
        perform(gestures.cancel());
    }
  }

  for (const type of ["pointerdown", "pointermove", "pointerup", "pointercancel"]) {
    video.addEventListener(
      type,
      (event) => {
        if (event.pointerType !== "touch") return;
        // Handled here only: the mouse handlers below must not see touches too.
        event.stopImmediatePropagation();
        onTouch(event);
      },
      true,
    );
  }

  video.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    video.focus({ preventScroll: true });
    const point = mapEvent(event, false);
    if (!point) return; // in the letterbox bars
    try {
      video.setPointerCapture(event.pointerId);
    } catch {
      // pointer already gone
    }
    pressButton(event.button, point);
  });

  video.addEventListener("pointerleave", () => hooks.pointer?.(null));

  video.addEventListener("pointermove", (event) => {
    hooks.pointer?.(mapEvent(event, false));
    const point = mapEvent(event, held.size > 0);
    // A second button pressed or released while another is held arrives as a pointermove
    // whose `button` names it (Pointer Events, chorded buttons).
    if (event.button >= 0 && point) {
      if (isButtonHeld(event.buttons, event.button)) pressButton(event.button, point);
      else releaseButton(event.button, point);
      return;
    }
    if (!point) return;
    pendingMove = point;
    if (!moveFrame) {
      // One move per animation frame: the host cannot show more, the channel need not carry it.
      moveFrame = requestAnimationFrame(() => {
        moveFrame = 0;
        flushMove();
      });
    }
  });

  function onPointerUp(event) {
    // Released outside the picture: the button still goes up, at the nearest edge.
    const point = mapEvent(event, true);
    if (point) releaseButton(event.button, point);
  }

  video.addEventListener("pointerup", onPointerUp);
  video.addEventListener("pointercancel", (event) => {
    const point = mapEvent(event, true);
    if (!point) return;
    for (const button of [...held]) releaseButton(button, point);
  });

  video.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const point = mapEvent(event, false);
      if (!point) return;
      const dx = wheelNotches(event.deltaX, event.deltaMode);
      const dy = wheelNotches(event.deltaY, event.deltaMode);
      if (dx === 0 && dy === 0) return;
      flushMove();
      sendInput(wheelMessage(dx, dy, point.x, point.y));
    },
    { passive: false },
  );

  // No local menu, no back/forward navigation from mouse buttons 3/4, no drag of the frame.
  for (const type of ["contextmenu", "auxclick", "mousedown", "mouseup", "dragstart", "dblclick"]) {
    video.addEventListener(type, (event) => event.preventDefault());
  }

  function onKey(event, down) {
    if (isStatsShortcut(event)) {
      event.preventDefault();
      event.stopPropagation();
      if (down && !event.repeat) hooks.toggleStats();
      return;
    }
    // Everything else belongs to the host: Tab, Backspace, F-keys, and the Japanese keys
    // (変換, 無変換, かな, 半角/全角) even when the local IME reports "Process".
    event.preventDefault();
    event.stopPropagation();
    const text = keyMessage(event, down);
    if (text) {
      flushMove();
      sendInput(text);
    }
  }

  video.addEventListener("keydown", (event) => onKey(event, true));
  video.addEventListener("keyup", (event) => onKey(event, false));

  function captureKeys(field) {
    field.addEventListener("keydown", (event) => onKey(event, true));
    field.addEventListener("keyup", (event) => onKey(event, false));
    // A soft keyboard's text that came without a key is not sent (only viewer text may
    // carry text, app/text_field.js): the field never keeps it.
    field.addEventListener("input", () => {
      field.value = "";
    });
    field.addEventListener("blur", () => {
      if (hooks.channel()) releaseAll();
    });
  }

  // The shortcut also works while focus is on the toolbar.
  document.addEventListener("keydown", (event) => {
    if (hooks.viewerShown() && event.target !== video && isStatsShortcut(event)) {
      event.preventDefault();
      if (!event.repeat) hooks.toggleStats();
    }
  });

  // Losing focus must not leave a key or button held down on the host.
  video.addEventListener("blur", () => {
    if (hooks.channel()) releaseAll();
  });
  window.addEventListener("blur", () => {
    if (hooks.channel()) releaseAll();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && hooks.channel()) releaseAll();
  });

  // Pixel-only: nothing is pasted into the session. Paste is refused where it would enter
  // the session, the remote picture, the on-screen keyboard's key field and the viewer's
  // own text field (app/text_field.js,
  // which refuses it again): a `text` message only ever holds what the person composed.
  // Elsewhere (the status bar, any other field) paste is the browser's as usual.
  const intoSession = (target) =>
    target === video || (target instanceof Element && target.closest("#viewer-text-box, #viewer-keys") !== null);
  document.addEventListener(
    "paste",
    (event) => {
      if (!intoSession(event.target)) return;
      event.preventDefault();
      event.stopPropagation();
      if (hooks.viewerShown()) hooks.blocked?.("paste_blocked");
    },
    true,
  );
  // A file dropped anywhere on the page would replace the viewer with the file (and a drop
  // on the picture is an attempt to move a file in): refused on the whole document.
  document.addEventListener(
    "drop",
    (event) => {
      event.preventDefault();
      event.stopPropagation();
      if (hooks.viewerShown()) hooks.blocked?.("drop_blocked");
    },
    true,
  );
  document.addEventListener(
    "dragover",
    (event) => {
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = "none";
    },
    true,
  );

  return {
    forget() {
      if (moveFrame) cancelAnimationFrame(moveFrame);
      moveFrame = 0;
      pendingMove = null;
      held.clear();
      trackpadPoint = null;
      lastTouchPoint = null;
      fit();
    },
    setTouchMode(mode) {
      clearTimeout(longPressTimer);
      gestures.setMode(mode);
      trackpadPoint = null;
      document.body.dataset.touchMode = mode;
    },
    fit,
    captureKeys,
  };
}
