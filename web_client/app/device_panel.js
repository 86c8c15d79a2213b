/**
 * The host list's word about this browser as a viewing device: not registered yet (a name
 * to give it and a button), waiting for an admin, approved, denied or revoked, in plain
 * words. Polls GET /api/devices (as background, like the host list) every 5 s while shown,
 * so an approval shows without a reload.
 *
 * For tests: body[data-device-state] is checking | none | pending | approved | denied |
 * revoked | unsupported | error.
 */

import { cleanLabel, defaultLabel, shortFingerprint } from "../core/device_proof.js";
import { errorKey } from "../core/auth.js";
import { t } from "../core/i18n.js";
import { deviceState, DeviceUnsupported, registerDevice } from "./device_key.js";

const REFRESH_MS = 5000;

export function createDevicePanel(onChange = () => {}) {
  const panel = document.getElementById("device-panel");
  const status = document.getElementById("device-status");
  const form = document.getElementById("device-register-form");
  const labelInput = document.getElementById("device-label");
  const again = document.getElementById("device-again");
  const message = document.getElementById("device-message");
  const adminLink = document.getElementById("device-admin-link");

  let running = false;
  let timer = null;
  let current = { state: "checking" };
  let fresh = false; // register a new key: the old one was denied or revoked
  let messageKey = null;
  let busy = false;

  function setMessage(key) {
    messageKey = key;
    message.textContent = key ? t(key) : "";
    message.hidden = !key;
  }

  function render() {
    const { state, device } = current;
    const changed = document.body.dataset.deviceState !== state;
    document.body.dataset.deviceState = state;
    panel.dataset.state = state;
    if (changed) onChange(state);
    const label = device?.label ?? "";
    const code = device ? t("device.code", { code: shortFingerprint(device.fingerprint) }) : "";
    status.textContent = `${t(`device.${state}`, { label })}${code}`;
    const registering = state === "none" || (fresh && (state === "denied" || state === "revoked"));
    form.hidden = !registering;
    again.hidden = registering || !(state === "denied" || state === "revoked");
    if (registering && !labelInput.value) labelInput.value = defaultLabel(navigator.userAgent);
    message.textContent = messageKey ? t(messageKey) : "";
    message.hidden = !messageKey;
    // An admin waiting for their own device can approve it in the console (self-approval
    // when they are the clinic's only admin; another admin otherwise).
    adminLink.hidden = !(state === "pending" && !document.getElementById("nav-admin").hidden);
  }

  async function refresh() {
    if (busy) return;
    try {
      const next = await deviceState();
      if (next.state === "unauthorized") return; // the host list asks for sign-in
      current = next;
    } catch {
      current = { state: "error" };
    }
    if (running) render();
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!running) return;
      if (document.visibilityState !== "hidden") await refresh();
      if (running) schedule();
    }, REFRESH_MS);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const label = cleanLabel(labelInput.value);
    if (!label) {
      setMessage("device.labelMissing");
      labelInput.focus();
      return;
    }
    busy = true;
    setMessage("device.registering");
    try {
      if (!Number.isInteger(current.userId)) throw new Error("who is signed in is not known yet");
      const result = await registerDevice(current.userId, label, { fresh });
      if (result.status === 200 || result.status === 201) {
        fresh = false;
        setMessage(null);
      } else {
        setMessage(errorKey(result.status, result.body));
      }
    } catch (err) {
      setMessage(err instanceof DeviceUnsupported ? "device.unsupported" : "device.error");
    } finally {
      busy = false;
    }
    await refresh();
  });

  again.addEventListener("click", () => {
    fresh = true;
    labelInput.value = defaultLabel(navigator.userAgent);
    render();
    labelInput.focus();
  });

  return {
    start() {
      if (running) return;
      running = true;
      // Another person may have signed in since: nothing shown is known until asked.
      current = { state: "checking" };
      fresh = false;
      labelInput.value = "";
      setMessage(null);
      render();
      refresh();
      schedule();
    },
    stop() {
      running = false;
      clearTimeout(timer);
      timer = null;
    },
    relabel() {
      render();
    },
  };
}
