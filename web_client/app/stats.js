/**
 * Connection statistics: sampled from pc.getStats() once a second while a session runs,
 * shown in an overlay toggled by Ctrl+Alt+S or the toolbar button.
 *
 * The latest sample is also `window.mamoriStats` (a plain object, see core/stats.js), kept
 * up to date whether or not the overlay is shown, so automated tests can read it.
 *
 * From the same samples the toolbar shows the connection's quality in plain words
 * (core/quality.js), and a picture that got no frame for over a second is marked frozen
 * over the video (frames are seen by requestVideoFrameCallback, checked every 250 ms);
 * `window.mamoriQuality` holds {level, reasons, frozen}.
 */

import { t } from "../core/i18n.js";
import { isFrozen, judgeQuality } from "../core/quality.js";
import { summarizeStats } from "../core/stats.js";
import { el } from "./kit.js";

const SAMPLE_MS = 1000;
const FROZEN_CHECK_MS = 250;

/**
 * @param {{overlay: HTMLElement, list: HTMLElement, toggle: HTMLButtonElement,
 *   quality: HTMLElement, frozen: HTMLElement, video: HTMLVideoElement}} els
 */
/** "relay (tls) → srflx": how the picture travels (this browser's end, then the PC's). */
function routeText(s) {
  if (!s.localCandidateType || !s.remoteCandidateType) return null;
  const local = s.relayProtocol ? `${s.localCandidateType} (${s.relayProtocol})` : s.localCandidateType;
  return `${local} → ${s.remoteCandidateType}`;
}

export function createStats(els) {
  let pc = null;
  let timer = null;
  let frozenTimer = null;
  let previous = null;
  let earlier = null;
  let sample = null;
  let busy = false;
  let lastFrameAt = null;
  let quality = null;
  let frozen = false;

  function publish() {
    window.mamoriStats = sample ? { ...sample } : {};
    window.mamoriQuality = quality ? { ...quality, frozen } : {};
  }

  function onFrame() {
    lastFrameAt = performance.now();
    if (pc) els.video.requestVideoFrameCallback?.(onFrame);
  }

  function renderQuality() {
    const level = quality?.level ?? "none";
    els.quality.hidden = level === "none";
    els.quality.dataset.level = level;
    els.quality.textContent = level === "none" ? "" : t(`quality.${level}`);
    els.quality.title = t("quality.label");
    document.body.dataset.quality = level;
    document.body.dataset.frozen = String(frozen);
    els.frozen.hidden = !frozen;
    if (frozen) {
      const seconds = Math.floor((performance.now() - lastFrameAt) / 1000);
      els.frozen.textContent = t("viewer.frozen", { seconds });
    }
  }

  function judge() {
    const now = performance.now();
    frozen = isFrozen(lastFrameAt, now);
    const judged = judgeQuality({
      sample,
      previous: earlier,
      connectionState: pc?.connectionState ?? null,
      lastFrameAt,
      now,
    });
    // Before the first picture nothing is said but a lost connection (the status says
    // "connecting").
    quality = lastFrameAt === null && judged.level !== "lost" ? null : judged;
    publish();
    renderQuality();
  }

  // Which picture the person sees (app/canvas_video.js): the canvas only while it draws.
  function renderingText() {
    const state = window.mamoriCanvasVideo?.state;
    if (state === "drawing") return t("stats.renderingCanvas");
    if (state === "fallback" || state === "unavailable") return t("stats.renderingFallback");
    return t("stats.renderingVideo");
  }

  function row(label, value) {
    return [el("dt", "", label), el("dd", "", String(value))];
  }

  function render() {
    if (els.overlay.hidden) return;
    const none = t("stats.none");
    const s = sample ?? {};
    const show = (v, key) => (v === null || v === undefined ? none : t(key, { value: v }));
    const resolution = s.width && s.height ? `${s.width} × ${s.height}` : none;
    els.list.replaceChildren(
      ...row(t("stats.fps"), show(s.fps, "stats.fpsValue")),
      ...row(t("stats.bitrate"), show(s.bitrateKbps, "stats.kbpsValue")),
      ...row(t("stats.rtt"), show(s.rttMs, "stats.msValue")),
      ...row(t("stats.codec"), s.codec ?? none),
      ...row(t("stats.resolution"), resolution),
      ...row(t("stats.dropped"), s.framesDropped ?? none),
      ...row(t("stats.route"), routeText(s) ?? none),
      ...row(t("stats.rendering"), renderingText()),
    );
  }

  async function poll() {
    if (!pc || busy) return;
    busy = true;
    const current = pc;
    try {
      const report = await current.getStats();
      if (current !== pc) return; // the session changed while waiting
      earlier = previous;
      sample = summarizeStats(report.values(), previous);
      previous = sample;
      judge();
      render();
    } catch {
      // A closed connection has no stats; the next session starts a new series.
    } finally {
      busy = false;
    }
  }

  function setShown(shown) {
    els.overlay.hidden = !shown;
    els.toggle.setAttribute("aria-pressed", String(shown));
    render();
  }

  els.toggle.addEventListener("click", () => setShown(els.overlay.hidden));
  publish();

  return {
    /** Sample `peerConnection` every second until stop(). */
    start(peerConnection) {
      this.stop();
      pc = peerConnection;
      lastFrameAt = null; // loading until the first frame, not frozen
      els.video.requestVideoFrameCallback?.(onFrame);
      timer = setInterval(poll, SAMPLE_MS);
      frozenTimer = setInterval(judge, FROZEN_CHECK_MS);
      poll();
    },
    /** Stop sampling; the numbers are cleared so no stale figure is shown. */
    stop() {
      clearInterval(timer);
      clearInterval(frozenTimer);
      timer = null;
      frozenTimer = null;
      pc = null;
      previous = null;
      earlier = null;
      sample = null;
      quality = null;
      frozen = false;
      lastFrameAt = null;
      publish();
      render();
      renderQuality();
    },
    toggle() {
      setShown(els.overlay.hidden);
    },
    relabel() {
      render();
      renderQuality();
    },
  };
}
