/**
 * Receive-codec order for the viewer's video transceiver.
 *
 * The agent encodes H.264 itself (DESIGN.md: own x264), so H.264 goes first; VP8 stays
 * after it as a fallback for a browser without H.264, RTX stays so lost packets can be
 * retransmitted, and RED + ULPFEC stay last so the agent can send forward error correction
 * (host_agent/webrtc/fec_sender.py; it answers them only when offered, and never as the
 * media codec). Everything else (VP9, AV1, FlexFEC...) is left out: the agent sends none
 * of it and a shorter SDP is a smaller surface. Pure: RTCRtpReceiver.getCapabilities
 * results go in, setCodecPreferences' argument comes out.
 */

const mime = (codec) => String(codec?.mimeType ?? "").toLowerCase();
const fmtp = (codec) => String(codec?.sdpFmtpLine ?? "");

/** packetization-mode=1 (what aiortc and x264 over RTP use) before mode 0. */
function h264Rank(codec) {
  return /(?:^|;)\s*packetization-mode=1(?:;|$)/.test(fmtp(codec)) ? 0 : 1;
}

/**
 * @param {{mimeType: string, sdpFmtpLine?: string}[]} codecs receiver capabilities
 * @returns {object[] | null} the preferred order, or null when there is no H.264 (leave the
 *   browser's default order alone then).
 */
export function preferH264(codecs) {
  if (!Array.isArray(codecs)) return null;
  const h264 = codecs
    .map((codec, index) => ({ codec, index }))
    .filter(({ codec }) => mime(codec) === "video/h264")
    .sort((a, b) => h264Rank(a.codec) - h264Rank(b.codec) || a.index - b.index)
    .map(({ codec }) => codec);
  if (h264.length === 0) return null;
  const vp8 = codecs.filter((codec) => mime(codec) === "video/vp8");
  const rtx = codecs.filter((codec) => mime(codec) === "video/rtx");
  const red = codecs.filter((codec) => mime(codec) === "video/red");
  const ulpfec = codecs.filter((codec) => mime(codec) === "video/ulpfec");
  return [...h264, ...vp8, ...rtx, ...red, ...ulpfec];
}
