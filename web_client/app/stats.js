/**
 * Connection statistics: sampled from pc.getStats() once a second while a session runs,
 * shown in an overlay toggled by Ctrl+Alt+S or the toolbar button.
 *
 * The latest sample is also `window.mamoriStats` (a plain object, see core/stats.js), kept
 * up to date whether or not the overlay is shown, so automated tests can read it.
 */

import { t } from "../core/i18n.js";
import { summarizeStats } from "../core/stats.js";
import { el } from "./kit.js";

const SAMPLE_MS = 1000;

/**
 * @param {{overlay: HTMLElement, list: HTMLElement, toggle: HTMLButtonElement}} els
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
  let previous = null;
  let sample = null;
  let busy = false;

  function publish() {
    window.mamoriStats = sample ? { ...sample } : {};
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
    );
  }

  async function poll() {
    if (!pc || busy) return;
    busy = true;
    const current = pc;
    try {
      const report = await current.getStats();
      if (current !== pc) return; // the session changed while waiting
      sample = summarizeStats(report.values(), previous);
      previous = sample;
      publish();
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
      timer = setInterval(poll, SAMPLE_MS);
      poll();
    },
    /** Stop sampling; the numbers are cleared so no stale figure is shown. */
    stop() {
      clearInterval(timer);
      timer = null;
      pc = null;
      previous = null;
      sample = null;
      publish();
      render();
    },
    toggle() {
      setShown(els.overlay.hidden);
    },
    relabel() {
      render();
    },
  };
}
