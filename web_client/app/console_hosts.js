/**
 * The console's hosts page: the clinic PCs enrolled in the organization, whether each is
 * online (its agent connected) or in use, when it was last seen and until when its
 * certificate runs; an enrollment code for a new PC (shown once, with the exact command to
 * run there); revoking a PC's access (confirmed on the page first). The broker scopes all of
 * it to the admin's own organization. Each PC's agent version is shown next to the
 * server's, flagged when older (or unknown): an unpatched agent is for the clinic to update.
 */

import { t } from "../core/i18n.js";
import { call } from "./api.js";
import { button, cell, clinicTime, el, messageLine, pageShown } from "./console_kit.js";

const REFRESH_MS = 10_000;

function certificateText(host) {
  const cert = host.certificate;
  switch (host.certificate_state) {
    case "valid":
      return t("hostsAdmin.cert.valid", { time: clinicTime(cert.not_after) });
    case "expired":
      return t("hostsAdmin.cert.expired", { time: clinicTime(cert.not_after) });
    case "revoked":
      return t("hostsAdmin.cert.revoked");
    case "none":
      return t("hostsAdmin.cert.none");
    default:
      throw new Error(`unknown certificate state ${host.certificate_state}`);
  }
}

function versionCell(host) {
  const td = cell(host.agent_version ?? t("hostsAdmin.versionUnknown"));
  if (host.agent_outdated) td.append(" ", el("strong", "version-outdated", t("hostsAdmin.outdated")));
  return td;
}

export function createHostsPage(hooks) {
  const message = messageLine(document.getElementById("hosts-admin-message"), hooks);
  const rows = document.getElementById("hosts-admin-rows");
  const empty = document.getElementById("hosts-admin-empty");
  const brokerVersion = document.getElementById("hosts-admin-broker-version");
  const form = document.getElementById("hosts-admin-code-form");
  const codeBox = document.getElementById("hosts-admin-code");
  const command = document.getElementById("hosts-admin-command");
  const expires = document.getElementById("hosts-admin-expires");
  const confirmBox = document.getElementById("hosts-admin-confirm");
  const confirmText = document.getElementById("hosts-admin-confirm-text");
  let pending = null; // the host a revocation waits confirmation for
  let timer = null;
  let hosts = [];

  function askRevoke(host) {
    pending = host;
    confirmText.textContent = t("hostsAdmin.revokeConfirm", { name: host.name });
    confirmBox.hidden = false;
    document.getElementById("hosts-admin-confirm-no").focus();
  }

  function hostRow(host) {
    const tr = el("tr");
    tr.dataset.hostId = host.host_id;
    const state = host.busy ? t("hostsAdmin.busy") : host.online ? t("hostsAdmin.online") : t("hostsAdmin.offline");
    const actions = cell();
    if (host.certificate_state === "valid") actions.append(button(t("hostsAdmin.revoke"), () => askRevoke(host)));
    tr.append(
      cell(`${host.name}（${host.host_id}）`),
      cell(state),
      cell(host.online ? t("hostsAdmin.now") : clinicTime(host.last_seen_at)),
      cell(certificateText(host)),
      versionCell(host),
      actions,
    );
    return tr;
  }

  function render() {
    rows.replaceChildren(...hosts.map(hostRow));
    empty.hidden = hosts.length > 0;
    // Every row carries the version it was compared with; the first one says it.
    brokerVersion.textContent = hosts.length ? t("hostsAdmin.brokerVersion", { version: hosts[0].broker_version }) : "";
  }

  async function load(background = false) {
    const result = await call("GET", "/api/admin/hosts", undefined, { background });
    if (!message.check(result)) return;
    hosts = result.body;
    render();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await call("POST", "/api/admin/enrollment-codes", {
      host_id: document.getElementById("hosts-admin-host-id").value.trim(),
      name: document.getElementById("hosts-admin-name").value.trim(),
    });
    if (message.check(result, "hostsAdmin.codeCreated")) {
      form.reset();
      command.textContent = result.body.command;
      expires.textContent = t("hostsAdmin.codeExpires", { time: clinicTime(result.body.expires_at) });
      codeBox.hidden = false;
    }
  });

  document.getElementById("hosts-admin-confirm-no").addEventListener("click", () => {
    pending = null;
    confirmBox.hidden = true;
  });

  document.getElementById("hosts-admin-confirm-yes").addEventListener("click", async () => {
    const host = pending;
    pending = null;
    confirmBox.hidden = true;
    if (!host) return;
    const path = `/api/admin/hosts/${encodeURIComponent(host.host_id)}/revoke`;
    const result = await call("POST", path, { reason: "unspecified" });
    if (message.check(result, "hostsAdmin.revoked", { name: host.name })) load();
  });

  return {
    show() {
      codeBox.hidden = true;
      command.textContent = "";
      confirmBox.hidden = true;
      pending = null;
      message.say(null);
      load();
      clearInterval(timer);
      // Online state changes on its own; the list follows while the page is open.
      timer = setInterval(() => {
        if (!pageShown("hosts")) clearInterval(timer);
        else load(true);
      }, REFRESH_MS);
    },
    relabel() {
      message.relabel();
      render();
    },
  };
}
