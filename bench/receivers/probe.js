/**
 * The bench's measuring probe, the same for both receivers (our viewer and noVNC).
 *
 * Loaded as a classic script (noVNC receiver page) or evaluated into our real viewer page by
 * Playwright; defines `window.__probe`. It reads the glass's frame code (bench/glass_code.py:
 * two rows of 16 blocks of 16 px, Gray code on top, complement below) from every decoded
 * picture, stamps it on the wall clock, and counts bytes. It also stamps when each picture
 * reaches the screen: ours from requestVideoFrameCallback metadata of the <video>, noVNC at
 * the next animation frame after its canvas changed (bench/metrics.py joins the two).
 *
 * Wall clock: performance.now() corrected by the offset to Date.now() found at millisecond
 * edges (Date.now() is the system realtime clock the glass logs with time.time()), so the
 * glass's paint times and the page's decode times are on one clock with ~0.1 ms error.
 */
(() => {
  const BITS = 16;
  const BLOCK = 16;
  const CODE_W = BITS * BLOCK;
  const CODE_H = 2 * BLOCK;
  const THRESHOLD = 128;

  function calibrate() {
    const offsets = [];
    for (let i = 0; i < 15; i += 1) {
      const start = Date.now();
      let now = start;
      while (now === start) now = Date.now();
      offsets.push(now - performance.now());
    }
    offsets.sort((a, b) => a - b);
    return offsets[7];
  }

  let offset = calibrate();
  const wall = (perf) => perf + offset;

  function fromGray(g) {
    let n = 0;
    while (g) {
      n ^= g;
      g >>>= 1;
    }
    return n;
  }

  /** luma(x, y) -> 0..255 for code-area pixels; returns the counter or null if damaged. */
  function decode(luma) {
    const c = BLOCK / 2;
    let value = 0;
    for (let i = 0; i < BITS; i += 1) {
      const x = i * BLOCK + c;
      let top = 0;
      let bottom = 0;
      for (let dy = -2; dy < 2; dy += 1) {
        for (let dx = -2; dx < 2; dx += 1) {
          top += luma(x + dx, c + dy);
          bottom += luma(x + dx, BLOCK + c + dy);
        }
      }
      const bitTop = top / 16 < THRESHOLD;
      const bitBottom = bottom / 16 < THRESHOLD;
      if (bitTop === bitBottom) return null;
      value = (value << 1) | (bitTop ? 1 : 0);
    }
    return fromGray(value);
  }

  function decodeRgba(data, width) {
    return decode((x, y) => {
      const i = (y * width + x) * 4;
      return 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
    });
  }

  const state = {
    // [counter, wall ms, key] for every decoded picture whose code could be read; key joins
    // it to `shown`: ours the VideoFrame timestamp (µs), noVNC the flip's sequence number
    decoded: [],
    // ours: [media time µs, expectedDisplayTime, presentationTime, callback time] (wall ms)
    // per frame the <video> presented; noVNC: [flips so far, animation frame time, time the
    // callback ran] (wall ms) per animation frame that followed at least one flip
    shown: [],
    pictures: 0,
    unreadable: 0,
    wsBytes: 0,
    wsMessages: 0,
    wsWireBytes: 0,
    wsSegments: 0,
    captures: [],
    errors: [],
    // canvas path: [decode ms (worker arrival to decoder output), decoder output to drawn ms]
    stages: [],
  };

  function record(list, counter, perf, key) {
    if (counter === null) {
      state.unreadable += 1;
      return;
    }
    list.push([counter, wall(perf), key]);
  }

  // ---- our viewer: MediaStreamTrackProcessor, right after decode ----------------------------
  // (Reading presented frames too, with requestVideoFrameCallback and a canvas, would cost
  // the browser a full-frame colour conversion per frame and inflate its CPU figure.)

  async function readTrack(track) {
    const processor = new MediaStreamTrackProcessor({ track });
    const reader = processor.readable.getReader();
    const buffer = new Uint8Array(CODE_W * CODE_H * 4);
    for (;;) {
      const { value: frame, done } = await reader.read();
      if (done) return;
      const perf = performance.now();
      // The same media::VideoFrame reaches the <video>: its rVFC mediaTime is this, in s.
      const key = frame.timestamp;
      state.pictures += 1;
      try {
        const format = frame.format;
        if (format === "I420" || format === "NV12" || format === "I420A") {
          // The luma plane of the requested rect comes first in the copied layout.
          await frame.copyTo(buffer, {
            rect: { x: 0, y: 0, width: CODE_W, height: CODE_H },
            layout: [
              { offset: 0, stride: CODE_W },
              { offset: CODE_W * CODE_H, stride: CODE_W },
              { offset: CODE_W * CODE_H * 2, stride: CODE_W },
            ].slice(0, format === "NV12" ? 2 : 3),
          });
          record(state.decoded, decode((x, y) => buffer[y * CODE_W + x]), perf, key);
        } else {
          await frame.copyTo(buffer, { rect: { x: 0, y: 0, width: CODE_W, height: CODE_H } });
          const bgr = format && format.startsWith("B");
          record(
            state.decoded,
            decode((x, y) => {
              const i = (y * CODE_W + x) * 4;
              const r = bgr ? buffer[i + 2] : buffer[i];
              const b = bgr ? buffer[i] : buffer[i + 2];
              return 0.299 * r + 0.587 * buffer[i + 1] + 0.114 * b;
            }),
            perf,
            key,
          );
        }
      } catch (err) {
        if (state.errors.length < 5) state.errors.push(String(err));
      } finally {
        frame.close();
      }
    }
  }

  // ---- ours at display: requestVideoFrameCallback on the viewer's <video> -------------------
  // Metadata only, no pixels read: the decoded picture's code is joined by mediaTime. All
  // three times are on the page's performance clock (same origin as performance.now()).

  function watchPresented(video) {
    const onFrame = (now, meta) => {
      state.shown.push([
        Math.round(meta.mediaTime * 1e6),
        wall(meta.expectedDisplayTime),
        wall(meta.presentationTime),
        wall(now),
      ]);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  // ---- ours, canvas path (web_client/app/canvas_video.js): measured as noVNC's canvas -------
  // After decode is the WebCodecs decoder's output; the viewer's worker draws the picture on
  // the canvas and sends the code rectangle read right after the draw; at display is the
  // worker's animation frame after the draw. Keys: the worker's count of pictures drawn.

  function watchCanvas(info) {
    info.sample([0, 0, CODE_W, CODE_H]);
    info.onDrawn = (decodedPerf, drawnPerf, arrivedPerf, pixels, draws) => {
      if (arrivedPerf !== null) state.stages.push([decodedPerf - arrivedPerf, drawnPerf - decodedPerf]);
      state.pictures += 1;
      if (pixels) record(state.decoded, decodeRgba(pixels, CODE_W), decodedPerf, draws);
      else state.unreadable += 1;
    };
    info.onPainted = (draws, frameTime, at) => state.shown.push([draws, wall(frameTime), wall(at)]);
  }

  // ---- noVNC: read the visible canvas after every flip ------------------------------------

  function watchNoVnc(rfb) {
    const display = rfb._display;
    const ctx = display._targetCtx;
    const flip = display.flip.bind(display);
    let flips = 0;
    let frameAsked = false;
    // A canvas drawn in a task is painted in the next rendering update: its animation frame
    // time is when the flipped picture reaches the screen's frame (as rVFC's callback time
    // for ours). One callback per frame, asked only while flips wait for it.
    const onAnimationFrame = (now) => {
      frameAsked = false;
      state.shown.push([flips, wall(now), wall(performance.now())]);
    };
    display.flip = (fromQueue) => {
      const drawn = fromQueue || display._renderQ.length === 0;
      flip(fromQueue);
      if (!drawn) return; // queued behind an image still decoding: drawn later
      const perf = performance.now();
      state.pictures += 1;
      flips += 1;
      const data = ctx.getImageData(0, 0, CODE_W, CODE_H).data;
      record(state.decoded, decodeRgba(data, CODE_W), perf, flips);
      if (!frameAsked) {
        frameAsked = true;
        requestAnimationFrame(onAnimationFrame);
      }
    };
  }

  /** Count what arrives on every WebSocket (noVNC's RFB stream), with framing estimates. */
  function countWebSockets() {
    // A plain function returning the native object: noVNC checks the prototype's own
    // property names, so a subclass would not pass.
    const Native = window.WebSocket;
    function CountingWebSocket(...args) {
      const ws = new Native(...args);
      ws.addEventListener("message", (event) => {
        const n = event.data.byteLength ?? event.data.length ?? 0;
        state.wsBytes += n;
        state.wsMessages += 1;
        // Server-to-client WebSocket frame header: 2, 4 or 10 bytes.
        const framed = n + (n < 126 ? 2 : n < 65536 ? 4 : 10);
        state.wsWireBytes += framed;
        // websockify sends each message as it comes: at least one TCP segment each, one
        // per 1448-byte MSS on a typical path.
        state.wsSegments += Math.max(1, Math.ceil(framed / 1448));
      });
      return ws;
    }
    CountingWebSocket.prototype = Native.prototype;
    for (const name of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) {
      CountingWebSocket[name] = Native[name];
    }
    window.WebSocket = CountingWebSocket;
  }

  // ---- our transport bytes (getStats of the viewer's RTCPeerConnection) ------------------

  async function transportBytes() {
    const pcs = window.__benchPeerConnections ?? [];
    const pc = pcs[pcs.length - 1];
    if (!pc) return null;
    const report = await pc.getStats();
    let pair = null;
    let transport = null;
    let inbound = null;
    for (const s of report.values()) {
      if (s.type === "transport") transport = s;
      if (s.type === "inbound-rtp" && s.kind === "video") inbound = s;
    }
    if (transport?.selectedCandidatePairId) pair = report.get(transport.selectedCandidatePairId);
    if (!pair) {
      for (const s of report.values()) if (s.type === "candidate-pair" && s.nominated) pair = s;
    }
    return {
      // UDP payload bytes (SRTP, SRTCP, DTLS/SCTP), and packets for the IP/UDP headers
      pairBytes: pair?.bytesReceived ?? null,
      pairPackets: pair?.packetsReceived ?? null,
      rtpPayloadBytes: inbound?.bytesReceived ?? null,
      rtpHeaderBytes: inbound?.headerBytesReceived ?? null,
      framesDecoded: inbound?.framesDecoded ?? null,
      keyFramesDecoded: inbound?.keyFramesDecoded ?? null,
      nackCount: inbound?.nackCount ?? null,
      pliCount: inbound?.pliCount ?? null,
      packetsLost: inbound?.packetsLost ?? null,
      frameWidth: inbound?.frameWidth ?? null,
      frameHeight: inbound?.frameHeight ?? null,
      jitterBufferDelay: inbound?.jitterBufferDelay ?? null,
      jitterBufferEmittedCount: inbound?.jitterBufferEmittedCount ?? null,
      totalDecodeTime: inbound?.totalDecodeTime ?? null,
    };
  }

  // ---- settled-picture captures ------------------------------------------------------------

  function base64(bytes) {
    let s = "";
    const chunk = 0x8000;
    for (let i = 0; i < bytes.length; i += chunk) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
    }
    return btoa(s);
  }

  /** At each wall time in `times`, grab region [x, y, w, h] of what is shown (RGBA, base64). */
  function scheduleCaptures(source, box, times) {
    const [x, y, w, h] = box;
    let ctx = null;
    let canvas = null;
    if (source.video) {
      canvas = document.createElement("canvas");
      canvas.width = w;
      canvas.height = h;
      ctx = canvas.getContext("2d", { willReadFrequently: true });
    }
    for (const at of times) {
      setTimeout(() => {
        const perf = performance.now();
        let data;
        if (source.video) {
          ctx.drawImage(source.video, x, y, w, h, 0, 0, w, h);
          // What the viewer shows is the video with the lossless tiles over it
          // (web_client/app/tile_overlay.js: a canvas at the video's intrinsic size).
          const tiles = source.tiles;
          if (tiles && !tiles.hidden && tiles.width === source.video.videoWidth) {
            ctx.drawImage(tiles, x, y, w, h, 0, 0, w, h);
          }
          data = ctx.getImageData(0, 0, w, h).data;
        } else {
          data = source.rfb._display._targetCtx.getImageData(x, y, w, h).data;
        }
        state.captures.push({ planned: at, at: wall(perf), rgba: base64(new Uint8Array(data.buffer)) });
      }, Math.max(0, at - wall(performance.now())));
    }
  }

  window.__probe = {
    state,
    wall: () => wall(performance.now()),
    recalibrate() {
      offset = calibrate();
      return offset;
    },
    watchOurs() {
      const video = document.getElementById("remote-video");
      const track = video.srcObject.getVideoTracks()[0];
      if (typeof MediaStreamTrackProcessor === "function") {
        readTrack(track).catch((err) => state.errors.push(String(err)));
        watchPresented(video);
      } else {
        state.errors.push("no MediaStreamTrackProcessor in this browser");
      }
    },
    watchCanvas() {
      const info = window.mamoriCanvasVideo;
      if (info?.state === "drawing") watchCanvas(info);
      else state.errors.push(`canvas path not drawing: ${info?.state} ${info?.reason}`);
    },
    watchNoVnc,
    countWebSockets,
    transportBytes,
    scheduleCaptures(kind, box, times) {
      // The canvas path's canvas is drawn from like the <video> (drawImage takes either).
      const element = { ours: "remote-video", canvas: "remote-canvas" }[kind];
      const source = element
        ? { video: document.getElementById(element), tiles: document.querySelector(".remote-tiles") }
        : { rfb: window.__rfb };
      scheduleCaptures(source, box, times);
    },
    /** Everything recorded since the last drain (the lists are emptied). */
    drain() {
      const out = {
        decoded: state.decoded.splice(0),
        shown: state.shown.splice(0),
        captures: state.captures.splice(0),
        stages: state.stages.splice(0),
        pictures: state.pictures,
        unreadable: state.unreadable,
        wsBytes: state.wsBytes,
        wsMessages: state.wsMessages,
        wsWireBytes: state.wsWireBytes,
        errors: state.errors.slice(),
      };
      return out;
    },
  };
})();
