/**
 * Local zoom of the remote picture (a pinch on a tablet): what part of the <video> is
 * shown, and which host pixel lies under a point of the screen while zoomed, so that a tap
 * lands on the host pixel the person sees under the finger. Sans-I/O: CSS pixels relative
 * to the video's untransformed layout box; the page applies `transformCss(view)` with
 * transform-origin 0 0. Nothing here goes to the host.
 *
 * A view is {scale, x, y}: a layout point p is shown at p * scale + (x, y).
 * The zoom stays within MIN_ZOOM..MAX_ZOOM and the pan within the picture: along an axis
 * where the zoomed picture is larger than the box it always covers the box (no bar opens
 * at an edge), where it is smaller it stays centred as at fit.
 */

import { mapToHost } from "./input.js";

export const MIN_ZOOM = 1;
export const MAX_ZOOM = 4;
export const FIT = Object.freeze({ scale: 1, x: 0, y: 0 });

/**
 * The frame a view is bounded in: the layout box's size and where the picture sits in it
 * (object-fit: contain, centred: the same letterboxing as core/input.js mapToHost).
 * @returns {{width: number, height: number, picture: {left: number, top: number, width: number, height: number}} | null}
 */
export function frameOf(width, height, videoWidth, videoHeight) {
  if (!(width > 0 && height > 0 && videoWidth > 0 && videoHeight > 0)) return null;
  const fit = Math.min(width / videoWidth, height / videoHeight);
  const w = videoWidth * fit;
  const h = videoHeight * fit;
  return { width, height, picture: { left: (width - w) / 2, top: (height - h) / 2, width: w, height: h } };
}

function boundAxis(offset, scale, box, start, length) {
  const shown = length * scale;
  // `+ 0`: no -0 in a view (0 and -0 would compare unequal in a test's deepEqual).
  if (shown <= box) return (box - shown) / 2 - start * scale + 0;
  // The picture's edges may not come inside the box's edges.
  const low = box - (start + length) * scale;
  const high = -start * scale;
  return Math.min(high, Math.max(low, offset)) + 0;
}

/** `view` with its scale clamped and its pan kept within the picture. */
export function bound(view, frame) {
  if (!frame) return FIT;
  const raw = Number.isFinite(view.scale) ? view.scale : MIN_ZOOM;
  const scale = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, raw));
  const { picture } = frame;
  return {
    scale,
    x: boundAxis(Number.isFinite(view.x) ? view.x : 0, scale, frame.width, picture.left, picture.width),
    y: boundAxis(Number.isFinite(view.y) ? view.y : 0, scale, frame.height, picture.top, picture.height),
  };
}

/** Zoom by `factor` keeping the layout-box point (cx, cy) under the same spot (a pinch's middle). */
export function zoomAround(view, factor, cx, cy, frame) {
  if (!(factor > 0) || !Number.isFinite(factor)) return bound(view, frame);
  const scale = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, view.scale * factor));
  const applied = scale / view.scale;
  return bound({ scale, x: cx - (cx - view.x) * applied, y: cy - (cy - view.y) * applied }, frame);
}

/** Move the zoomed picture by (dx, dy) CSS pixels, as far as the picture allows. */
export function panBy(view, dx, dy, frame) {
  return bound({ scale: view.scale, x: view.x + dx, y: view.y + dy }, frame);
}

/** The layout-box point shown at the box point (x, y) under `view`. */
export function unzoom(view, x, y) {
  return { x: (x - view.x) / view.scale, y: (y - view.y) / view.scale };
}

/**
 * The host pixel under the screen point (clientX, clientY) while `view` is applied to a
 * video whose untransformed layout box is `box` (client coordinates); null in the bars
 * unless options.clamp.
 */
export function screenToHost(view, clientX, clientY, box, videoWidth, videoHeight, options = {}) {
  const local = unzoom(view, clientX - box.left, clientY - box.top);
  return mapToHost(box.left + local.x, box.top + local.y, box, videoWidth, videoHeight, options);
}

/** Host pixels per CSS pixel of the screen under `view` (for trackpad nudges). */
export function hostPixelsPerScreenPixel(view, frame, videoWidth) {
  if (!frame) return 0;
  return videoWidth / (frame.picture.width * view.scale);
}

export function isFit(view) {
  return view.scale === 1 && view.x === 0 && view.y === 0;
}

export function transformCss(view) {
  return isFit(view) ? "" : `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
}
