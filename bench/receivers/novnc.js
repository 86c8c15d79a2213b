// noVNC as people use it: the RFB object with its defaults (Tight, JPEG quality 6,
// compression 2, local cursor), connected through websockify; the probe watches its display.
import RFB from "./core/rfb.js";

const params = new URLSearchParams(window.location.search);
const rfb = new RFB(document.getElementById("screen"), params.get("ws"));
window.__rfb = rfb;
window.__probe.watchNoVnc(rfb);
rfb.addEventListener("connect", () => {
  document.body.dataset.connected = "yes";
});
rfb.addEventListener("disconnect", () => {
  document.body.dataset.connected = "no";
});
