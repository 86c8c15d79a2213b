/**
 * The console's devices page: browsers waiting for approval first, then the register of
 * every viewing device (owner, name, browser, state, who decided and when, last use).
 * Approve, deny and revoke each go through a confirm step on the page. The menu link
 * carries the number of devices waiting (`hooks.badge`), refreshed whenever the console is
 * shown and every 15 s while it is.
 *
 * For tests: rows are `tr[data-device-id][data-state]` with `button[data-action]`; the
 * confirm step is #devices-confirm with #devices-confirm-yes / #devices-confirm-no.
 */

import { defaultLabel, shortFingerprint } from "../core/device_proof.js";
import { t } from "../core/i18n.js";
import { call } from "./api.js";
import { button, cell, clinicTime, consoleShown, el, messageLine } from "./console_kit.js";

const BADGE_REFRESH_MS = 15_000;

function when(iso) {
  return clinicTime(iso, { none: t("devices.never") });
}

/** Keep only what the page shows, well-formed (the broker is trusted, but not blindly). */
function readRegister(body) {
  if (!body || typeof body !== "object" || !Array.isArray(body.devices)) return null;
  const devices = body.devices.filter(
    (d) => d && Number.isInteger(d.id) && typeof d.label === "string" && typeof d.state === "string",
  );
  return { devices, pending: devices.filter((d) => d.state === "pending").length, selfApproval: body.self_approval === true };
}

export function createDevicesPage(hooks) {
  const message = messageLine(document.getElementById("devices-message"), hooks);
  const pendingRows = document.getElementById("devices-pending");
  const decidedRows = document.getElementById("devices-decided");
  const pendingEmpty = document.getElementById("devices-pending-empty");
  const decidedEmpty = document.getElementById("devices-decided-empty");
  const confirmBox = document.getElementById("devices-confirm");
  const confirmText = document.getElementById("devices-confirm-text");
  const confirmNote = document.getElementById("devices-confirm-note");
  const confirmYes = document.getElementById("devices-confirm-yes");
  const confirmNo = document.getElementById("devices-confirm-no");

  let asked = null; // {device, action} awaiting confirmation
  let register = { devices: [], pending: 0, selfApproval: false };

  function owner(device) {
    const own = device.own ? t("devices.own") : "";
    const disabled = device.owner_disabled ? ` — ${t("admin.disabled")}` : "";
    return `${device.owner_display_name}（${device.owner_username}）${own}${disabled}`;
  }

  function labelCell(device) {
    const td = cell(device.label);
    td.append(el("br"), el("span", "device-code", t("device.code", { code: shortFingerprint(device.fingerprint) })));
    return td;
  }

  function browserCell(device) {
    const td = cell(defaultLabel(device.user_agent));
    td.title = device.user_agent;
    return td;
  }

  function actionButton(device, action) {
    const b = button(t(`devices.${action}`), () => ask(device, action), action === "approve" ? "button" : "button button-quiet");
    b.dataset.action = action;
    if (action === "approve" && device.own && !register.selfApproval) {
      b.disabled = true;
      b.title = t("devices.selfNeedsOther");
    }
    return b;
  }

  function pendingRow(device) {
    const tr = el("tr");
    tr.dataset.deviceId = String(device.id);
    tr.dataset.state = device.state;
    const actions = cell();
    actions.append(actionButton(device, "approve"), actionButton(device, "deny"));
    if (device.own && !register.selfApproval) actions.append(el("p", "hint", t("devices.selfNeedsOther")));
    tr.append(cell(owner(device)), labelCell(device), browserCell(device), cell(when(device.created_at)), actions);
    return tr;
  }

  function decidedRow(device) {
    const tr = el("tr");
    tr.dataset.deviceId = String(device.id);
    tr.dataset.state = device.state;
    const state = cell();
    const badge = el("span", "device-state", t(`devices.state.${device.state}`));
    badge.dataset.state = device.state;
    state.append(badge);
    const decided = device.decided_at
      ? t("devices.decidedBy", { who: device.decided_by ?? "—", time: when(device.decided_at) })
      : t("devices.never");
    const actions = cell();
    if (device.state === "approved") actions.append(actionButton(device, "revoke"));
    if (device.state === "denied") actions.append(actionButton(device, "approve"));
    tr.append(cell(owner(device)), labelCell(device), state, cell(decided), cell(when(device.last_used_at)), actions);
    return tr;
  }

  function render() {
    const pending = register.devices.filter((d) => d.state === "pending");
    const decided = register.devices.filter((d) => d.state !== "pending");
    pendingRows.replaceChildren(...pending.map(pendingRow));
    decidedRows.replaceChildren(...decided.map(decidedRow));
    pendingEmpty.hidden = pending.length > 0;
    decidedEmpty.hidden = decided.length > 0;
    document.getElementById("devices-pending-table").hidden = pending.length === 0;
    document.getElementById("devices-decided-table").hidden = decided.length === 0;
    hooks.badge("devices", register.pending);
  }

  async function load({ background = false } = {}) {
    const result = await call("GET", "/api/admin/devices", undefined, { background });
    if (background ? result.status !== 200 : !message.check(result)) return;
    const read = readRegister(result.body);
    if (!read) {
      message.say("api.unknown");
      return;
    }
    register = read;
    render();
  }

  function closeConfirm() {
    asked = null;
    confirmBox.hidden = true;
  }

  function ask(device, action) {
    asked = { device, action };
    const params = { owner: owner(device), label: device.label, browser: defaultLabel(device.user_agent) };
    confirmText.textContent = t(`devices.confirm.${action}`, params);
    const selfApproval = action === "approve" && device.own;
    confirmNote.hidden = !selfApproval;
    confirmNote.textContent = selfApproval ? t("devices.confirmSelf") : "";
    confirmYes.textContent = t(`devices.${action}`);
    confirmYes.dataset.action = action;
    confirmYes.className = action === "approve" ? "button" : "button button-danger";
    confirmBox.hidden = false;
    confirmYes.focus();
  }

  confirmYes.addEventListener("click", async () => {
    if (!asked) return;
    const { device, action } = asked;
    closeConfirm();
    const result = await call("POST", `/api/admin/devices/${device.id}/${action}`);
    message.check(result, `devices.done.${action}`);
    await load();
  });
  confirmNo.addEventListener("click", closeConfirm);

  // The waiting count on the menu link, whichever console page is open.
  const screenWatch = new MutationObserver(() => {
    if (consoleShown()) load({ background: true });
  });
  screenWatch.observe(document.body, { attributes: true, attributeFilter: ["data-screen"] });
  setInterval(() => {
    if (consoleShown() && document.visibilityState !== "hidden") load({ background: true });
  }, BADGE_REFRESH_MS);

  return {
    show() {
      closeConfirm();
      message.say(null);
      load();
    },
    relabel() {
      message.relabel();
      render();
      if (asked) ask(asked.device, asked.action);
    },
  };
}
