/**
 * The canvas video path (opt-in: core/encoded_frames.js wantsCanvasPath): the host's encoded
 * frames are taken from the video receiver with RTCRtpScriptTransform, decoded with WebCodecs
 * and drawn in a worker (app/canvas_video_worker.js), on a canvas laid exactly over the
 * <video> whose control the page hands to the worker (transferControlToOffscreen). Why: Chromium's <video> of a WebRTC track shows a picture some time after it is
 * decoded (bench/at_display.py); a canvas drawn in a task is in the next rendering update.
 *
 * The <video> stays where it is and keeps playing underneath (the worker passes every frame
 * on to Chromium's receiver), so everything that maps coordinates through the video's box and
 * intrinsic size (input, cursor, tiles, zoom) is unchanged, and falling back is just hiding
 * the canvas. The canvas has the video's CSS box and object-fit, copies its zoom transform
 * and `hidden`, takes no pointer events, and sits under the tiles and the cursor.
 *
 * The canvas is shown only once it has drawn a picture, so the screen is never blank: before
 * that, and after any failure, the <video> is what the person sees. Failures: no
 * RTCRtpScriptTransform, VideoDecoder or 2D canvas (feature detection), the transform or the
 * worker failing, the decoder failing repeatedly (core/encoded_frames.js FrameGate), or the
 * canvas getting no picture for STALL_MS while the <video> keeps getting new ones. A failure
 * keeps the <video> for the rest of the page's life.
 *
 * For tests and the bench: the canvas is `#remote-canvas`; window.mamoriCanvasVideo is
 * {state: "off" | "unavailable" | "waiting" | "drawing" | "fallback", reason, drawn,
 * counts, onDrawn, onPainted, sample(rect), read(rect)}: `onDrawn(decodedAt, drawnAt,
 * arrivedAt, pixels, draws)` after each draw (draws: the worker's count, as in onPainted) (performance.now() times; arrivedAt: when the encoded
 * frame reached the worker; pixels: RGBA of the rectangle given to `sample([x, y, w, h])`),
 * `onPainted(draws, frameTime, at)` at the worker's animation frame after draws;
 * `read(rect)` resolves to {width, height, data} (the canvas's size and RGBA of `rect`).
 */

const STALL_MS = 1500;
const WATCH_MS = 500;

function supported() {
  return (
    typeof window.RTCRtpScriptTransform === "function" &&
    typeof window.VideoDecoder === "function" &&
    typeof window.EncodedVideoChunk === "function" &&
    typeof window.Worker === "function" &&
    typeof HTMLCanvasElement.prototype.transferControlToOffscreen === "function"
  );
}

/**
 * @param {HTMLVideoElement} video
 * @param {boolean} enabled whether the person (or the URL) asked for the canvas path
 */
export function createCanvasVideo(video, enabled) {
  const info = { state: "off", reason: null, drawn: 0, counts: null, onDrawn: null, onPainted: null };
  window.mamoriCanvasVideo = info;
  const idle = { attach() {}, detach() {} };
  if (!enabled) return idle;
  if (!supported()) {
    info.state = "unavailable";
    info.reason = "no RTCRtpScriptTransform or WebCodecs";
    return idle;
  }
  const canvas = document.createElement("canvas");
  canvas.id = "remote-canvas";
  canvas.className = "remote-canvas";
  canvas.hidden = true;
  canvas.setAttribute("aria-hidden", "true");
  let offscreen = null;
  try {
    offscreen = canvas.transferControlToOffscreen();
  } catch (error) {
    info.state = "unavailable";
    info.reason = `no OffscreenCanvas: ${error?.message ?? error}`;
    return idle;
  }
  // Right above the video: the tiles and the cursor (inserted later, before the cursor) stay
  // above it.
  video.after(canvas);

  let worker = null;
  let ready = false;
  let attached = false;
  let session = 0;
  let failed = false;
  let lastDrawAt = 0;
  let lastVideoFrameAt = 0;
  let watch = null;

  // ---- the video's box, zoom and visibility --------------------------------------------

  function mirror() {
    canvas.style.transformOrigin = video.style.transformOrigin;
    canvas.style.transform = video.style.transform;
    canvas.hidden = failed || info.drawn === 0 || video.hidden || !attached;
  }
  new MutationObserver(mirror).observe(video, { attributes: true, attributeFilter: ["style", "hidden"] });

  function onVideoFrame() {
    lastVideoFrameAt = performance.now();
    if (attached) video.requestVideoFrameCallback?.(onVideoFrame);
  }

  // ---- what the worker drew -----------------------------------------------------------

  function drawn(message) {
    info.drawn += 1;
    lastDrawAt = performance.now();
    if (info.state !== "drawing") {
      info.state = "drawing";
      mirror();
    }
    const base = performance.timeOrigin;
    const arrived = message.arrivedAt === null ? null : message.arrivedAt - base;
    info.onDrawn?.(message.decodedAt - base, message.drawnAt - base, arrived, message.pixels, message.draws);
  }

  let reads = 0;
  const waiting = new Map();
  info.sample = (rect) => worker?.postMessage({ kind: "sample", rect });
  info.read = (rect) =>
    new Promise((resolve) => {
      reads += 1;
      waiting.set(reads, resolve);
      worker?.postMessage({ kind: "read", id: reads, rect });
    });

  function fallBack(reason) {
    if (failed) return;
    failed = true;
    info.state = "fallback";
    info.reason = reason;
    console.warn("canvas video off, the <video> shows the picture:", reason);
    // The worker keeps passing frames on to the receiver, which feeds the <video>.
    worker?.postMessage({ kind: "stop" });
    clearInterval(watch);
    mirror();
  }

  // The <video> got new pictures and the canvas none for STALL_MS: something in this path is
  // stuck, the <video> is not.
  function checkStall() {
    const now = performance.now();
    if (info.state !== "drawing") return;
    if (lastVideoFrameAt - lastDrawAt > STALL_MS && now - lastVideoFrameAt < STALL_MS) fallBack("stalled");
  }

  // ---- the worker: loaded once, before any session needs it ----------------------------

  function onMessage(event) {
    const message = event.data;
    if (message?.kind === "ready") {
      ready = true;
      worker.postMessage({ kind: "canvas", canvas: offscreen }, [offscreen]);
      return;
    }
    if (message?.kind === "pixels") {
      waiting.get(message.id)?.({ width: message.width, height: message.height, data: message.data });
      waiting.delete(message.id);
      return;
    }
    if (message?.session !== session || !attached) return; // a session that has ended
    if (message.kind === "drawn") drawn(message);
    else if (message.kind === "painted") {
      const base = performance.timeOrigin;
      info.onPainted?.(message.draws, message.frameTime - base, message.at - base);
    } else if (message.kind === "counts") info.counts = message.counts;
    else if (message.kind === "failed") {
      info.counts = message.counts;
      fallBack(`decoder: ${message.reason}`);
    }
  }

  try {
    worker = new Worker(new URL("./canvas_video_worker.js", import.meta.url), { type: "module" });
    worker.onmessage = onMessage;
    worker.onerror = (event) => fallBack(`worker: ${event.message || "failed to load"}`);
  } catch (error) {
    fallBack(`worker: ${error?.message ?? error}`);
  }

  // ---- per session ---------------------------------------------------------------------

  function detach() {
    clearInterval(watch);
    watch = null;
    if (attached) worker?.postMessage({ kind: "stop" });
    attached = false;
    info.drawn = 0;
    if (!failed) info.state = "waiting";
    mirror(); // hidden until the next session's first picture is drawn
  }

  /**
   * Take the frames of `receiver`, a new session's video receiver. Must run before the offer
   * (the connection's `receiver` event): a transform set later, even in the `track` event,
   * gets no frame at all in Chromium 156 (measured), and this path would draw nothing.
   */
  function attach(receiver) {
    detach();
    if (failed || !receiver) return;
    if (!ready) {
      // The worker has not loaded (yet): a transform on it could hold back every frame.
      fallBack("worker not ready");
      return;
    }
    session += 1;
    try {
      receiver.transform = new window.RTCRtpScriptTransform(worker, { session });
    } catch (error) {
      fallBack(`transform: ${error?.message ?? error}`);
      return;
    }
    attached = true;
    lastDrawAt = lastVideoFrameAt = performance.now();
    video.requestVideoFrameCallback?.(onVideoFrame);
    watch = setInterval(checkStall, WATCH_MS);
  }

  if (!failed) info.state = "waiting";
  return { attach, detach };
}
