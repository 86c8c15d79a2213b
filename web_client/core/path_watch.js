/**
 * Is the media path of one viewer attempt (core/viewer_session.js) still alive? Two signs
 * that it is gone: nothing received for STALL_MS while connected, and, sooner, this browser's
 * public address changing while the path is in trouble (Wi-Fi gave way to LTE:
 * core/network_probe.js). It says so once, through `gone()`; the session ends the attempt as
 * `peer_failed` and its connection tries again. No DOM: the browser's classes and the timers
 * come in through `deps`.
 */

import { networkChanged, publicAddresses } from "./network_probe.js";

// A live path always carries something: the agent sends a keep-alive frame every 0.5 s
// (host_agent/video/scheduler.py) and RTCP. Nothing received for this long while connected
// means the path is gone (a network change: Wi-Fi to LTE). Chromium said "disconnected"
// only 5.2 s after such a change (tests/network/test_reach.py), and the grace of
// DISCONNECT_GRACE_MS added 3 s: the picture came back after 10 s. Checked every
// STALL_POLL_MS. 2.5 s, not 1.5 s: a session is not torn down (a second of reconnecting and
// a keyframe) for a short hiccup, such as two keep-alives lost in a burst or an agent busy
// for a second and a half (seen: an agent sharing its event loop with a slow caller; 1.5 s
// ended that session).
export const STALL_MS = 2500;
export const STALL_POLL_MS = 250;
// Sooner when the network itself changed: after 1 s without a byte (two keep-alives) the
// browser asks the broker's STUN server for its public address (at most once a
// PROBE_EVERY_MS); a different one than at connect time means Wi-Fi gave way to LTE and
// this path is gone for good. An outage answers nothing and the same network the same
// address: both wait for STALL_MS as before, so a 2 s outage still keeps the session.
export const PROBE_AFTER_MS = 1000;
export const PROBE_EVERY_MS = 1000;

export class PathWatch {
  #deps;
  #pc;
  #iceServers;
  #gone;
  #stopped = false;
  #timer = null;
  #lastBytes = null;
  #lastProgressAt = 0;
  #baseline = null; // the public addresses at connect time
  #probing = false;
  #lastProbeAt = -Infinity;

  /**
   * @param {object} deps `timers` (setTimeout/clearTimeout), `RTCPeerConnection` (for the
   *   probes), optional `now()` (ms)
   * @param {RTCPeerConnection} pc the attempt's peer connection (its transport stats)
   * @param {object[]} iceServers the STUN servers to ask for this browser's public address
   * @param {() => void} gone called at most once, when the path is judged gone
   */
  constructor(deps, pc, iceServers, gone) {
    this.#deps = deps;
    this.#pc = pc;
    this.#iceServers = iceServers;
    this.#gone = gone;
  }

  /** The peer connection is up: start polling (once) and learn where this browser stands. */
  connected() {
    if (this.#stopped) return;
    if (this.#timer === null) {
      this.#lastProgressAt = this.#now();
      this.#schedule();
    }
    if (this.#baseline === null && !this.#probing) this.#probeBaseline();
  }

  /** ICE said "disconnected": if the public address changed meanwhile, the path is gone
   * now rather than after the grace; `stillInTrouble` is asked once the answer is in. */
  disconnected(stillInTrouble) {
    this.#probeNetwork(stillInTrouble);
  }

  stop() {
    this.#stopped = true;
    this.#deps.timers.clearTimeout(this.#timer);
  }

  #now() {
    return this.#deps.now ? this.#deps.now() : Date.now();
  }

  #schedule() {
    this.#timer = this.#deps.timers.setTimeout(() => this.#check(), STALL_POLL_MS);
  }

  #declareGone() {
    if (this.#stopped) return;
    this.stop();
    this.#gone();
  }

  /** Read the bytes received on the path; none for STALL_MS means gone. A browser without
   * transport stats is never judged stalled. */
  async #check() {
    if (this.#stopped) return;
    let bytes = null;
    try {
      const report = await this.#pc.getStats();
      report.forEach((s) => {
        if (s.type === "transport" && typeof s.bytesReceived === "number") bytes = s.bytesReceived;
      });
    } catch {
      // no stats: unknown, not stalled
    }
    if (this.#stopped) return;
    const now = this.#now();
    if (bytes === null || bytes !== this.#lastBytes) {
      this.#lastBytes = bytes;
      this.#lastProgressAt = now;
    } else if (now - this.#lastProgressAt >= STALL_MS) {
      this.#declareGone();
      return;
    } else if (now - this.#lastProgressAt >= PROBE_AFTER_MS) {
      // Bytes that come back meanwhile outrank any address: the path lives.
      const stalledSince = this.#lastProgressAt;
      this.#probeNetwork(() => this.#lastProgressAt === stalledSince);
    }
    this.#schedule();
  }

  #probe(first) {
    return publicAddresses(this.#deps.RTCPeerConnection, this.#iceServers, this.#deps.timers, { first });
  }

  /** Where this browser stands now; without a STUN server (or an answer) nothing is probed. */
  async #probeBaseline() {
    this.#probing = true;
    const found = await this.#probe(false);
    this.#probing = false;
    if (!this.#stopped) this.#baseline = found ?? new Set();
  }

  /** A path in trouble on a new public address is gone. ICE notices when only what this
   * browser sends takes the new network (the old one still delivering: no stall), 5-7 s
   * after the change. */
  async #probeNetwork(stillInTrouble) {
    const now = this.#now();
    if (!this.#baseline?.size || this.#probing || now - this.#lastProbeAt < PROBE_EVERY_MS) return;
    this.#probing = true;
    this.#lastProbeAt = now;
    const found = await this.#probe(true);
    this.#probing = false;
    if (this.#stopped || !stillInTrouble()) return;
    if (networkChanged(this.#baseline, found)) this.#declareGone();
  }
}
