// web_client/core/zoom.js: local pinch zoom, bounded, and screen point -> host pixel.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  bound,
  FIT,
  frameOf,
  MAX_ZOOM,
  panBy,
  screenToHost,
  transformCss,
  zoomAround,
} from "../../web_client/core/zoom.js";

// A 1000x500 box showing a 1920x1080 host: the picture is 888.9 x 500, bars left and right.
const frame = frameOf(1000, 500, 1920, 1080);
const box = { left: 10, top: 70, width: 1000, height: 500 };

test("the frame letterboxes like the video (contain, centred)", () => {
  assert.equal(frame.picture.height, 500);
  assert.ok(Math.abs(frame.picture.width - 888.888) < 0.01);
  assert.ok(Math.abs(frame.picture.left - 55.555) < 0.01);
  assert.equal(frameOf(0, 500, 1920, 1080), null);
  assert.equal(frameOf(1000, 500, 0, 0), null);
});

test("zoom is clamped to 1x..4x", () => {
  let view = FIT;
  for (let i = 0; i < 20; i += 1) view = zoomAround(view, 1.5, 500, 250, frame);
  assert.equal(view.scale, MAX_ZOOM);
  for (let i = 0; i < 20; i += 1) view = zoomAround(view, 0.5, 500, 250, frame);
  assert.deepEqual(view, { scale: 1, x: 0, y: 0 });
  assert.deepEqual(zoomAround(FIT, 0.2, 100, 100, frame), { scale: 1, x: 0, y: 0 });
  assert.equal(zoomAround(FIT, Number.NaN, 1, 1, frame).scale, 1);
  assert.equal(bound({ scale: 99, x: 0, y: 0 }, frame).scale, MAX_ZOOM);
  assert.equal(transformCss(FIT), "");
});

test("a pinch keeps the point between the fingers under the fingers", () => {
  const view = zoomAround(FIT, 2, 400, 300 - 70, frame);
  assert.equal(view.scale, 2);
  // The layout point (400, 230) is still shown at (400, 230).
  assert.ok(Math.abs(400 * 2 + view.x - 400) < 1e-9);
  assert.ok(Math.abs(230 * 2 + view.y - 230) < 1e-9);
});

test("panning stops at the picture's edges, never showing past them", () => {
  let view = zoomAround(FIT, 2, 500, 250, frame);
  view = panBy(view, 10_000, 10_000, frame);
  // Left edge of the picture (55.6 * 2 + x) sits at the box's left edge; top likewise.
  assert.ok(Math.abs(frame.picture.left * 2 + view.x) < 1e-9, view.x);
  assert.equal(view.y, 0);
  view = panBy(view, -10_000, -10_000, frame);
  const right = (frame.picture.left + frame.picture.width) * 2 + view.x;
  assert.ok(Math.abs(right - 1000) < 1e-9, right);
  assert.equal(500 * 2 + view.y, 500);
  // At fit there is nothing to pan.
  assert.deepEqual(panBy(FIT, 50, -50, frame), { scale: 1, x: 0, y: 0 });
});

test("along an axis where the zoomed picture is narrower than the box it stays centred", () => {
  // A tall host in a wide box: at 1.5x the picture is still narrower than the box.
  const tall = frameOf(1000, 500, 600, 1000);
  const view = panBy(zoomAround(FIT, 1.5, 100, 100, tall), 300, 0, tall);
  const left = tall.picture.left * view.scale + view.x;
  const width = tall.picture.width * view.scale;
  assert.ok(Math.abs(left - (1000 - width) / 2) < 1e-9);
});

test("a screen point maps to the host pixel shown there, at fit and zoomed", () => {
  // At fit: the picture's centre is the host's centre.
  assert.deepEqual(screenToHost(FIT, 10 + 500, 70 + 250, box, 1920, 1080), { x: 960, y: 540 });
  // In the bars: nothing (a tap there is not sent), unless clamped.
  assert.equal(screenToHost(FIT, 10 + 20, 70 + 250, box, 1920, 1080), null);
  assert.deepEqual(screenToHost(FIT, 10 + 20, 70 + 250, box, 1920, 1080, { clamp: true }), { x: 0, y: 540 });
  // Zoomed 4x into the top-left corner of the picture: the box's centre shows host
  // pixel (1920/8, 1080/8) around which the screen is 4x finer.
  let view = zoomAround(FIT, 4, 0, 0, frame);
  view = panBy(view, 10_000, 10_000, frame);
  const at = screenToHost(view, 10 + 500, 70 + 250, box, 1920, 1080);
  // Box centre (500, 250) / 4 = 125, 62.5 picture px from the corner; x 2.16 host px each.
  assert.deepEqual(at, { x: 270, y: 135 });
  // One screen pixel right moves about a quarter of an unzoomed host step.
  const next = screenToHost(view, 10 + 500 + 10, 70 + 250, box, 1920, 1080);
  assert.ok(next.x - at.x >= 5 && next.x - at.x <= 6, next.x - at.x);
});
