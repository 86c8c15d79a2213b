/**
 * Lossless tiles of settled regions drawn over the video (messages validated by
 * core/tiles.js): a canvas at the video's intrinsic size, placed and scaled exactly like the
 * video's picture (object-fit: contain and the local zoom), so that a settled screen shows
 * the host's pixels exactly where the video can only approximate them (4:2:0 chroma).
 *
 * A tile is drawn only if it still belongs: the frame size must be the video's, a new
 * capture generation (another monitor) or a new video size clears everything, and an
 * invalidation clears its rectangles at once, including tiles still being decoded. Messages
 * for a frame size the video has not reached yet (the host switched monitors and the new
 * picture is not decoded yet) wait in a bounded queue and are replayed, in order, when it
 * is. Anything failing (no createImageBitmap, a decode error) removes the overlay for the
 * rest of the page's life: the video alone still shows everything, as before tiles.
 *
 * For tests: the canvas is `#remote-tiles`; window.mamoriTiles counts {tiles, bytes, drawn,
 * invalidations, rejected, stale, failed}.
 */

import { FIT } from "../core/zoom.js";
import { overlaps, overlayPlacement } from "../core/tiles.js";

// Messages of a frame size the video has not reached yet: a few seconds' worth at most.
const MAX_WAITING = 256;

/**
 * @param {HTMLVideoElement} video
 * @param {HTMLElement} stage the video's positioned container
 * @param {HTMLElement | null} below the element the overlay goes under (the cursor)
 * @param {(ok: boolean) => boolean} [report] tells the host whether the overlay draws
 *   (once per session after the first tile drawn, and if it fails after that): the host
 *   then stops refining in the video what the tiles cover; returns whether it was sent
 */
export function createTileOverlay(video, stage, below, report = () => false) {
  const canvas = document.createElement("canvas");
  canvas.id = "remote-tiles";
  canvas.className = "remote-tiles";
  canvas.hidden = true;
  canvas.setAttribute("aria-hidden", "true");
  stage.insertBefore(canvas, below);
  let ctx = null;
  try {
    ctx = canvas.getContext("2d");
  } catch {
    ctx = null;
  }
  const info = { tiles: 0, bytes: 0, drawn: 0, invalidations: 0, rejected: 0, stale: 0, failed: false };
  window.mamoriTiles = info;
  let failed = false;
  let generation = null;
  let view = FIT;
  let pending = []; // tiles being decoded: {rect, stale}
  let waiting = []; // messages for a frame size the video has not reached yet
  let drawnAny = false;
  let reported = false; // the host was told the overlay draws, this session

  function tell(ok) {
    try {
      return report(ok);
    } catch {
      return false;
    }
  }

  function fail(reason) {
    if (failed) return;
    failed = true;
    info.failed = true;
    if (reported) tell(false); // the host refines in the video again
    console.warn("lossless tiles off:", reason);
    clearAll();
    canvas.hidden = true;
  }
  if (!ctx || typeof createImageBitmap !== "function") fail("no 2D canvas or createImageBitmap");

  function place() {
    const spot =
      failed || video.hidden || !drawnAny
        ? null
        : overlayPlacement(
            { width: video.clientWidth, height: video.clientHeight },
            video.videoWidth,
            video.videoHeight,
            view,
          );
    canvas.hidden = spot === null;
    if (!spot) return;
    canvas.style.width = `${spot.width}px`;
    canvas.style.height = `${spot.height}px`;
    canvas.style.transform = spot.transform;
  }

  function clearAll() {
    for (const entry of pending) entry.stale = true;
    pending = [];
    drawnAny = false;
    if (ctx) ctx.clearRect(0, 0, canvas.width, canvas.height);
    place();
  }

  /** The message fits the picture now (true), must wait for it (false, queued), or is dropped. */
  function admit(message) {
    if (failed) return false;
    if (message.frameWidth !== video.videoWidth || message.frameHeight !== video.videoHeight) {
      if (waiting.length < MAX_WAITING) waiting.push(message);
      else info.rejected += 1;
      return false;
    }
    if (generation !== message.generation) {
      generation = message.generation;
      clearAll();
    }
    if (canvas.width !== message.frameWidth || canvas.height !== message.frameHeight) {
      canvas.width = message.frameWidth; // clears the canvas
      canvas.height = message.frameHeight;
      clearAll();
    }
    return true;
  }

  async function drawTile(message) {
    const entry = { rect: message, stale: false };
    pending.push(entry);
    let bitmap;
    try {
      bitmap = await createImageBitmap(new Blob([message.image], { type: message.mime }), {
        colorSpaceConversion: "none",
        premultiplyAlpha: "none",
      });
    } catch (err) {
      fail(err);
      return;
    } finally {
      pending = pending.filter((e) => e !== entry);
    }
    try {
      if (entry.stale || failed) {
        info.stale += 1;
        return;
      }
      if (bitmap.width !== message.width || bitmap.height !== message.height) {
        info.rejected += 1;
        return;
      }
      ctx.clearRect(message.x, message.y, message.width, message.height);
      ctx.drawImage(bitmap, message.x, message.y);
      info.drawn += 1;
      if (!reported) reported = tell(true);
      if (!drawnAny) {
        drawnAny = true;
        place();
      }
    } finally {
      bitmap.close();
    }
  }

  function invalidate(message) {
    info.invalidations += 1;
    for (const rect of message.rects) {
      ctx.clearRect(rect.x, rect.y, rect.width, rect.height);
      for (const entry of pending) if (overlaps(entry.rect, rect)) entry.stale = true;
    }
  }

  function apply(message) {
    if (!admit(message)) return;
    if (message.type === "tile") {
      info.tiles += 1;
      info.bytes += message.image.length + 20; // the whole message: header and rectangle too
      drawTile(message).catch(fail);
    } else if (message.type === "invalidate") {
      invalidate(message);
    } else {
      throw new Error(`unhandled tile message ${message.type}`);
    }
  }

  // A new picture size: whatever was drawn belongs to the old one; what waited may fit now.
  // Not when the canvas already has this size: tiles admitted between the video taking its
  // size and this (queued) event were drawn for it; clearing them would lose them for good
  // (the host counts them as shown; seen as soon as tiles came 120 ms after a change).
  video.addEventListener("resize", () => {
    if (canvas.width !== video.videoWidth || canvas.height !== video.videoHeight) {
      generation = null;
      clearAll();
    }
    const queued = waiting;
    waiting = [];
    for (const message of queued) {
      if (message.frameWidth === video.videoWidth && message.frameHeight === video.videoHeight) apply(message);
    }
  });
  window.addEventListener("resize", place);

  return {
    /** A validated tile message (core/tiles.js parseTileMessage). */
    handle(message) {
      try {
        apply(message);
      } catch (err) {
        fail(err);
      }
    },
    /** A binary message that failed validation: counted, never drawn. */
    rejected() {
      info.rejected += 1;
    },
    /** The picture's local zoom changed (core/zoom.js view). */
    zoomed(next) {
      view = next;
      place();
    },
    /** The session ended (or the video went away): no tiles until the next ones arrive. */
    reset() {
      reported = false; // a new session: its host has not been told
      generation = null;
      waiting = [];
      clearAll();
    },
  };
}
