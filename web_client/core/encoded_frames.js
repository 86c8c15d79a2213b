/**
 * The decisions of the canvas video path (app/canvas_video.js, app/canvas_video_worker.js):
 * which WebCodecs decoder an encoded frame needs, whether a frame may be decoded, when to ask
 * the host for a keyframe and when to give up. Pure: no DOM, no WebCodecs; the worker feeds it
 * what it sees and does what it answers.
 *
 * Why a gate at all: a WebCodecs decoder must start on a keyframe, and after a decoder error
 * it is closed and must be configured again, then start on a keyframe again. Chromium's own
 * receiver still sees every frame (the transform passes them on), so a frame lost on the
 * network still makes Chromium send NACK and PLI as with the <video> element; a keyframe
 * request of ours (RTCRtpScriptTransformer.sendKeyFrameRequest) is only for what Chromium
 * cannot see: our decoder's own failure, or a start between keyframes.
 */

// H.264 in RTP is Annex B (start codes) once depacketized, so no `description` is given.
// The profile in the string only has to be one the software decoder accepts: High 5.1
// decodes the agent's constrained baseline and anything up to 4K.
const CONFIGS = Object.freeze({
  "video/h264": Object.freeze({ codec: "avc1.640033", optimizeForLatency: true }),
  "video/vp8": Object.freeze({ codec: "vp8", optimizeForLatency: true }),
});

// A keyframe asked for is not asked for again before this: the host's answer takes a
// round trip and an encode, and asking every frame would make it send keyframes back to back.
export const KEYFRAME_RETRY_MS = 500;
// Decoder errors within ERROR_WINDOW_MS after which the path gives up (the <video> takes over).
export const MAX_ERRORS = 3;
export const ERROR_WINDOW_MS = 10_000;

/** The VideoDecoder configuration for an encoded frame's MIME type, or null if none. */
export function decoderConfigFor(mimeType) {
  return CONFIGS[String(mimeType ?? "").toLowerCase()] ?? null;
}

/**
 * Whether the page asked for the canvas path: `?video=canvas` in the URL, or the stored
 * setting "canvas" (localStorage `mamori.video`); `?video=element` forces the <video>.
 */
export const VIDEO_PATH_KEY = "mamori.video";
export function wantsCanvasPath(search, stored) {
  const asked = new URLSearchParams(String(search ?? "")).get("video");
  if (asked === "canvas" || asked === "element") return asked === "canvas";
  return stored === "canvas";
}

/**
 * Per encoded frame, what the worker must do. `frame({type, mimeType, now})` returns
 * `{decode, configure, requestKeyFrame}`: `configure` is a decoder configuration to apply
 * (reset) before decoding, or null. `decoderError(now)` after the decoder failed; `failed`
 * turns true when it failed too often, and then nothing is decoded any more.
 */
export class FrameGate {
  #mime = null;
  #needKey = true;
  #lastAsk = -Infinity;
  #errors = [];
  failed = false;
  failure = null;
  // Counters for tests and the bench.
  counts = { decoded: 0, skipped: 0, keyRequests: 0, errors: 0 };

  frame({ type, mimeType, now }) {
    const none = { decode: false, configure: null, requestKeyFrame: false };
    if (this.failed) return none;
    const mime = String(mimeType ?? "").toLowerCase();
    let configure = null;
    if (mime !== this.#mime) {
      const config = decoderConfigFor(mime);
      if (!config) {
        this.#fail(`codec ${mime || "unknown"}`);
        return none;
      }
      // A new codec (renegotiation) means a new decoder, which starts on a keyframe.
      this.#mime = mime;
      this.#needKey = true;
      configure = config;
    }
    if (this.#needKey && type !== "key") {
      this.counts.skipped += 1;
      return { decode: false, configure, requestKeyFrame: this.#ask(now) };
    }
    this.#needKey = false;
    this.counts.decoded += 1;
    return { decode: true, configure, requestKeyFrame: false };
  }

  /** The decoder reported an error: start again on a keyframe (asked for at once). */
  decoderError(now, reason = "decode error") {
    this.counts.errors += 1;
    this.#errors = this.#errors.filter((at) => now - at < ERROR_WINDOW_MS);
    this.#errors.push(now);
    if (this.#errors.length >= MAX_ERRORS) {
      this.#fail(reason);
      return { configure: null, requestKeyFrame: false };
    }
    this.#needKey = true;
    this.#lastAsk = -Infinity;
    return { configure: decoderConfigFor(this.#mime), requestKeyFrame: this.#ask(now) };
  }

  #ask(now) {
    if (now - this.#lastAsk < KEYFRAME_RETRY_MS) return false;
    this.#lastAsk = now;
    this.counts.keyRequests += 1;
    return true;
  }

  #fail(reason) {
    this.failed = true;
    this.failure = reason;
  }
}
