/**
 * The host's cursor drawn over the video (shapes and positions from the agent, validated by
 * core/cursor.js), so a pointer movement needs no video frame.
 *
 * While the person moves their own pointer over the picture, the cursor follows it at once
 * (the agent's positions for that movement arrive a round trip later and are ignored for
 * LOCAL_LEAD_MS); otherwise it sits where the host says (a pointer moved on the host itself,
 * a touch screen here). The page's own cursor is hidden over the video while a host shape is
 * known, so there is one cursor, drawn at the picture's scale.
 *
 * For tests: the canvas is `#remote-cursor`; body[data-cursor] is "shown" or "hidden" and
 * window.mamoriCursor holds {x, y, id, messages, invalid} (host pixels, last shape id).
 */

import { hostToBox } from "../core/cursor.js";

const LOCAL_LEAD_MS = 300;

/**
 * @param {HTMLVideoElement} video
 * @param {HTMLElement} stage the video's positioned container
 */
export function createCursorOverlay(video, stage) {
  const canvas = document.createElement("canvas");
  canvas.id = "remote-cursor";
  canvas.className = "remote-cursor";
  canvas.hidden = true;
  canvas.setAttribute("aria-hidden", "true");
  stage.appendChild(canvas);
  const ctx = canvas.getContext("2d");

  let shape = null; // {id, width, height, hotX, hotY}
  let host = null; // {x, y, visible}
  let local = null; // {x, y} in host pixels, while the pointer is over the picture
  let localAt = -Infinity;
  let view = { scale: 1, x: 0, y: 0 }; // the picture's local zoom (core/zoom.js)
  const info = { x: null, y: null, id: null, messages: 0, invalid: 0 };
  window.mamoriCursor = info;

  function place() {
    const now = performance.now();
    const useLocal = local !== null && now - localAt < LOCAL_LEAD_MS;
    const at = useLocal ? local : host;
    const box = { width: video.clientWidth, height: video.clientHeight };
    const fitted = at && shape && !video.hidden ? hostToBox(at.x, at.y, box, video.videoWidth, video.videoHeight) : null;
    // Zoomed, the cursor moves and grows with the picture (a point p is shown at p*s + (x, y)).
    const spot = fitted && {
      left: fitted.left * view.scale + view.x,
      top: fitted.top * view.scale + view.y,
      scale: fitted.scale * view.scale,
    };
    const shown = spot !== null && (useLocal || host.visible);
    canvas.hidden = !shown;
    document.body.dataset.cursor = shown ? "shown" : "hidden";
    if (!shown) return;
    info.x = at.x;
    info.y = at.y;
    canvas.style.width = `${shape.width * spot.scale}px`;
    canvas.style.height = `${shape.height * spot.scale}px`;
    const left = spot.left - shape.hotX * spot.scale;
    const top = spot.top - shape.hotY * spot.scale;
    canvas.style.transform = `translate(${left}px, ${top}px)`;
  }

  function setShape(message) {
    shape = { id: message.id, width: message.width, height: message.height, hotX: message.hotX, hotY: message.hotY };
    canvas.width = message.width;
    canvas.height = message.height;
    ctx.putImageData(new ImageData(message.rgba, message.width, message.height), 0, 0);
    info.id = message.id;
    video.classList.add("has-remote-cursor");
  }

  video.addEventListener("resize", place);
  window.addEventListener("resize", place);

  return {
    /** A validated host message (core/cursor.js parseHostMessage). */
    handle(message) {
      info.messages += 1;
      switch (message.type) {
        case "shape":
          setShape(message);
          break;
        case "cursor":
          host = { x: message.x, y: message.y, visible: message.visible };
          break;
        default:
          throw new Error(`unhandled cursor message ${message.type}`);
      }
      place();
    },
    /** A host message that failed validation: counted, never shown. */
    rejected() {
      info.invalid += 1;
    },
    /** The host's cursor as last reported (host pixels), or null. */
    hostPosition() {
      return host && { x: host.x, y: host.y };
    },
    /** The local pointer is at host pixel `point` (null: it left the picture). */
    localPointer(point) {
      local = point;
      localAt = point ? performance.now() : -Infinity;
      place();
    },
    /** The picture's local zoom changed (core/zoom.js view). */
    zoomed(next) {
      view = next;
      place();
    },
    /** The session ended: no cursor until the next one sends a shape. */
    reset() {
      shape = null;
      host = null;
      local = null;
      info.x = info.y = info.id = null;
      video.classList.remove("has-remote-cursor");
      place();
    },
  };
}
