/**
 * The canvas video path's worker (app/canvas_video.js): the receiver's RTCRtpScriptTransform
 * runs here. Every encoded frame is passed on to Chromium's own receiver unchanged, and a
 * copy goes to a WebCodecs VideoDecoder whose pictures are drawn here, on the page's canvas
 * (an OffscreenCanvas the page transferred): a picture waits for no task of the page's busy
 * main thread (measured: 10 ms while typing, 49 ms while scrolling, drawn there).
 *
 * Why every frame is passed on: a receiver that gets no frames back asks the host for a
 * keyframe every few hundred ms (measured: 15 keyframes in 6 s instead of 1), and Chromium's
 * pipeline behind it is what sends NACK and PLI on loss and keeps the <video> ready to take
 * over at once if this path fails.
 *
 * Messages to the page, each with the session number the page gave the transform (options):
 * {kind: "ready"} once this module has loaded (the page sets a transform only then: a
 * transform on a dead worker would starve the <video>); per picture drawn {kind: "drawn",
 * decodedAt, arrivedAt, drawnAt, pixels} (timeOrigin-based ms, comparable across the page
 * and this worker: when the picture left the decoder, when its encoded frame reached this
 * worker, when it was drawn; draws: pictures drawn so far; pixels: the sampled rectangle's RGBA, if one was asked);
 * {kind: "painted", draws, frameTime, at} at the animation frame after draws (the canvas is
 * in that rendering update); {kind: "failed", reason}; {kind: "counts", counts} now and then;
 * {kind: "pixels", id, width, height, data} answering "read". From the page: {kind:
 * "canvas", canvas}, {kind: "stop"} (pass frames on, decode no more), {kind: "sample",
 * rect} (send that rectangle with every picture: the bench reads its frame code so),
 * {kind: "read", id, rect} (tests).
 */

import { FrameGate } from "../core/encoded_frames.js";

// Count reports (for tests and the bench): every COUNTS_EVERY frames, or on the first
// frame after COUNTS_EVERY_MS, since a settled screen sends few frames (keep-alives, two a
// second) and its counts would otherwise wait for many seconds.
const COUNTS_EVERY = 30;
const COUNTS_EVERY_MS = 1000;

const stamp = () => performance.timeOrigin + performance.now();

let current = null;
let canvas = null;
let ctx = null;
let sample = null;
let draws = 0;
let frameAsked = false;
let session = null;

self.onrtctransform = (event) => {
  current?.stop();
  session = event.transformer.options?.session ?? null;
  current = start(event.transformer, session);
};

self.onmessage = (event) => {
  const message = event.data;
  if (message?.kind === "stop") current?.stop();
  else if (message?.kind === "canvas") {
    canvas = message.canvas;
    ctx = canvas.getContext("2d", { alpha: false, desynchronized: true });
  } else if (message?.kind === "sample") sample = message.rect;
  else if (message?.kind === "read" && ctx) {
    const [x, y, width, height] = message.rect;
    const data = ctx.getImageData(x, y, width, height).data;
    self.postMessage({ kind: "pixels", id: message.id, width: canvas.width, height: canvas.height, data }, [data.buffer]);
  }
};

function onAnimationFrame(frameTime) {
  frameAsked = false;
  self.postMessage({ kind: "painted", session, draws, frameTime: performance.timeOrigin + frameTime, at: stamp() });
}

/** Draw a decoded picture (and close it); false if there is no canvas to draw on. */
function draw(frame, times) {
  try {
    if (!ctx) return false;
    if (canvas.width !== frame.displayWidth || canvas.height !== frame.displayHeight) {
      canvas.width = frame.displayWidth;
      canvas.height = frame.displayHeight;
    }
    ctx.drawImage(frame, 0, 0);
  } finally {
    frame.close();
  }
  draws += 1;
  const pixels = sample ? ctx.getImageData(...sample).data : null;
  self.postMessage({ kind: "drawn", session, draws, ...times, drawnAt: stamp(), pixels }, pixels ? [pixels.buffer] : []);
  if (!frameAsked) {
    frameAsked = true;
    self.requestAnimationFrame(onAnimationFrame);
  }
  return true;
}

function start(transformer, session) {
  const gate = new FrameGate();
  let decoder = null;
  let stopped = false;
  let seen = 0;
  let countedAt = -Infinity;
  // When each frame reached this worker, by chunk timestamp: reported with its picture, so
  // the bench can tell the transform's hop from the decoder's time.
  const arrived = new Map();

  const post = (message, transfer = []) => self.postMessage({ ...message, session }, transfer);

  function askKeyFrame() {
    // Rejects when the receiver has nothing to ask yet (no frame received): harmless, the
    // next skipped frame asks again.
    transformer.sendKeyFrameRequest?.().catch(() => {});
  }

  function closeDecoder() {
    if (decoder && decoder.state !== "closed") decoder.close();
    decoder = null;
  }

  function fail(reason) {
    if (stopped) return;
    stopped = true;
    closeDecoder();
    post({ kind: "failed", reason, counts: gate.counts });
  }

  function newDecoder(config) {
    closeDecoder();
    decoder = new VideoDecoder({
      output: (frame) => {
        if (stopped) {
          frame.close();
          return;
        }
        const decodedAt = stamp();
        const arrivedAt = arrived.get(frame.timestamp) ?? null;
        arrived.delete(frame.timestamp);
        if (!draw(frame, { decodedAt, arrivedAt })) fail("no canvas");
      },
      error: (error) => onError(String(error?.message ?? error)),
    });
    decoder.configure(config);
  }

  function onError(reason) {
    if (stopped) return;
    const next = gate.decoderError(performance.now(), reason);
    if (gate.failed) {
      fail(gate.failure);
      return;
    }
    try {
      if (next.configure) newDecoder(next.configure);
    } catch (error) {
      fail(String(error?.message ?? error));
      return;
    }
    if (next.requestKeyFrame) askKeyFrame();
  }

  function decodeCopy(encoded) {
    const meta = encoded.getMetadata();
    const step = gate.frame({ type: encoded.type, mimeType: meta.mimeType, now: performance.now() });
    if (gate.failed) {
      fail(gate.failure);
      return;
    }
    if (step.requestKeyFrame) askKeyFrame();
    if (step.configure) newDecoder(step.configure);
    if (!step.decode) return;
    const timestamp = meta.rtpTimestamp ?? encoded.timestamp;
    if (arrived.size > 64) arrived.clear(); // pictures the decoder never gave back
    arrived.set(timestamp, stamp());
    // EncodedVideoChunk copies the bytes: the frame itself goes on to the receiver.
    decoder.decode(new EncodedVideoChunk({ type: encoded.type, timestamp, data: encoded.data }));
  }

  const passOn = new TransformStream({
    transform(encoded, controller) {
      if (!stopped) {
        try {
          decodeCopy(encoded);
        } catch (error) {
          // decode() or configure() threw (unsupported configuration, closed decoder).
          onError(String(error?.message ?? error));
        }
        seen += 1;
        const now = performance.now();
        if (seen % COUNTS_EVERY === 0 || now - countedAt >= COUNTS_EVERY_MS) {
          countedAt = now;
          post({ kind: "counts", counts: gate.counts });
        }
      }
      controller.enqueue(encoded);
    },
  });
  transformer.readable
    .pipeThrough(passOn)
    .pipeTo(transformer.writable)
    .catch(() => {}); // the receiver went away: the session ended

  return {
    stop() {
      stopped = true;
      closeDecoder();
    },
  };
}

self.postMessage({ kind: "ready" });
