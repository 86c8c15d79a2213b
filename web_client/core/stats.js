/**
 * Turn one RTCPeerConnection.getStats() report into the numbers the overlay shows.
 *
 * Pure: takes the report's values (plain objects, as RTCStatsReport yields them) and the
 * previous sample, so rates are computed from deltas and tested without a browser.
 */

/**
 * @typedef {object} StatsSample
 * @property {number | null} fps frames per second (framesPerSecond, else framesDecoded delta)
 * @property {number | null} bitrateKbps video bytesReceived delta, in kbit/s
 * @property {number | null} rttMs selected candidate pair's currentRoundTripTime, in ms
 * @property {string | null} codec mimeType, e.g. "video/H264"
 * @property {number | null} width decoded frame width
 * @property {number | null} height decoded frame height
 * @property {number | null} framesDropped
 * @property {number | null} framesDecoded
 * @property {number | null} framesReceived
 * @property {number | null} bytesReceived
 * @property {number | null} packetsLost
 * @property {number | null} packetsReceived
 * @property {number | null} freezeCount Chromium's count of pictures shown far too long
 * @property {number | null} jitterBufferMs average jitter-buffer delay per emitted frame
 * @property {string | null} localCandidateType the selected pair's local end: host, srflx, prflx, relay
 * @property {string | null} remoteCandidateType the selected pair's remote end (the clinic PC)
 * @property {string | null} relayProtocol how this browser reaches its TURN server (udp, tcp, tls)
 * @property {number} timestamp the report's time (ms)
 */

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const round1 = (v) => (v === null ? null : Math.round(v * 10) / 10);

/**
 * @param {Iterable<Record<string, any>>} reports RTCStatsReport.values()
 * @param {StatsSample | null} previous the sample of the previous call, for rates
 * @param {number} [now] fallback timestamp (ms) when the report has none
 * @returns {StatsSample}
 */
export function summarizeStats(reports, previous, now = Date.now()) {
  const byId = new Map();
  let inbound = null;
  let transport = null;
  const pairs = [];
  for (const report of reports) {
    byId.set(report.id, report);
    if (report.type === "inbound-rtp" && (report.kind ?? report.mediaType) === "video") {
      // One video m-line is negotiated; if there were more, the busiest one is the picture.
      if (!inbound || (num(report.bytesReceived) ?? 0) > (num(inbound.bytesReceived) ?? 0)) {
        inbound = report;
      }
    } else if (report.type === "transport") {
      transport = report;
    } else if (report.type === "candidate-pair") {
      pairs.push(report);
    }
  }

  const timestamp = num(inbound?.timestamp) ?? now;
  const bytesReceived = num(inbound?.bytesReceived);
  const framesDecoded = num(inbound?.framesDecoded);
  const elapsedS = previous ? (timestamp - previous.timestamp) / 1000 : 0;

  let fps = num(inbound?.framesPerSecond);
  if (fps === null && elapsedS > 0 && framesDecoded !== null && previous?.framesDecoded != null) {
    fps = Math.max(0, (framesDecoded - previous.framesDecoded) / elapsedS);
  }
  let bitrateKbps = null;
  if (elapsedS > 0 && bytesReceived !== null && previous?.bytesReceived != null) {
    bitrateKbps = Math.max(0, ((bytesReceived - previous.bytesReceived) * 8) / 1000 / elapsedS);
  }

  let pair = transport?.selectedCandidatePairId ? byId.get(transport.selectedCandidatePairId) : null;
  if (!pair) {
    pair = pairs.find((p) => p.selected) ?? pairs.find((p) => p.nominated && p.state === "succeeded");
  }
  const rtt = num(pair?.currentRoundTripTime);
  const local = pair?.localCandidateId ? byId.get(pair.localCandidateId) : null;
  const remote = pair?.remoteCandidateId ? byId.get(pair.remoteCandidateId) : null;
  const text = (v) => (typeof v === "string" && v ? v : null);

  const codecReport = inbound?.codecId ? byId.get(inbound.codecId) : null;
  const emitted = num(inbound?.jitterBufferEmittedCount);
  const jitterDelay = num(inbound?.jitterBufferDelay);

  return {
    fps: round1(fps),
    bitrateKbps: bitrateKbps === null ? null : Math.round(bitrateKbps),
    rttMs: rtt === null ? null : Math.round(rtt * 1000),
    codec: typeof codecReport?.mimeType === "string" ? codecReport.mimeType : null,
    width: num(inbound?.frameWidth),
    height: num(inbound?.frameHeight),
    framesDropped: num(inbound?.framesDropped),
    framesDecoded,
    framesReceived: num(inbound?.framesReceived),
    bytesReceived,
    packetsLost: num(inbound?.packetsLost),
    packetsReceived: num(inbound?.packetsReceived),
    freezeCount: num(inbound?.freezeCount),
    jitterBufferMs: emitted && jitterDelay !== null ? Math.round((jitterDelay / emitted) * 1000) : null,
    localCandidateType: text(local?.candidateType),
    remoteCandidateType: text(remote?.candidateType),
    relayProtocol: text(local?.relayProtocol),
    timestamp,
  };
}
