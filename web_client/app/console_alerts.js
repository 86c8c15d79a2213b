/**
 * The console's alerts page: what happened, in plain words, newest first, each with a
 * "seen" button; how the clinic is told (mail recipients, webhook, usual hours, offline
 * time); a test alert. The menu link carries the count nobody has acknowledged yet.
 *
 * The broker writes each alert in both languages (GET /api/admin/alerts `text.ja/en`), so
 * switching language needs no new request; everything else is in core/i18n_alerts.js.
 */

import { getLanguage, t } from "../core/i18n.js";
import { call } from "./api.js";
import { button, clinicTime, consoleShown, el, messageLine, pageShown } from "./console_kit.js";

// How often an open console refreshes the badge, and an open alerts page its list
// (background polls: they do not count as someone using the console).
const BADGE_POLL_MS = 60_000;
const PAGE_POLL_MS = 10_000;

export function createAlertsPage(hooks) {
  const message = messageLine(document.getElementById("alerts-message"), hooks);
  const summary = document.getElementById("alerts-summary");
  const list = document.getElementById("alerts-list");
  const ackAll = document.getElementById("alerts-ack-all");
  const form = document.getElementById("alerts-settings-form");
  const recipients = document.getElementById("alerts-recipients");
  const mailUnavailable = document.getElementById("alerts-mail-unavailable");
  const webhook = document.getElementById("alerts-webhook");
  const hoursOn = document.getElementById("alerts-hours-on");
  const hoursStart = document.getElementById("alerts-hours-start");
  const hoursEnd = document.getElementById("alerts-hours-end");
  const offlineOn = document.getElementById("alerts-offline-on");
  const offlineMinutes = document.getElementById("alerts-offline-minutes");
  const secretBox = document.getElementById("alerts-secret-box");
  const secretCode = document.getElementById("alerts-secret");
  const secretState = document.getElementById("alerts-secret-state");
  const rotate = document.getElementById("alerts-rotate");
  const rotateConfirm = document.getElementById("alerts-rotate-confirm");
  let alerts = [];
  let unseen = 0;
  let settings = null;

  function when(iso) {
    return clinicTime(iso, {
      zone: settings?.time_zone,
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
    });
  }

  function deliveryLine(delivery) {
    const channel = t(`alerts.channel.${delivery.channel === "mail" ? "mail" : "webhook"}`);
    const state = ["pending", "delivered", "failed"].includes(delivery.state) ? delivery.state : "pending";
    let text = t(`alerts.delivery.${state}`, { channel, attempts: delivery.attempts });
    if (state !== "delivered" && delivery.last_error) text += ` (${delivery.last_error})`;
    const line = el("li", "alert-delivery", text);
    line.dataset.state = state;
    return line;
  }

  function alertItem(alert) {
    const li = el("li", "alert-item");
    li.dataset.alertId = String(alert.id);
    li.dataset.severity = alert.severity;
    li.dataset.acknowledged = alert.acknowledged_at ? "true" : "false";
    const words = alert.text?.[getLanguage()] ?? alert.text?.ja ?? { title: alert.kind, message: "", action: "" };
    const head = el("p", "alert-head");
    const severity = ["critical", "warning", "info"].includes(alert.severity) ? alert.severity : "info";
    head.append(el("span", "alert-severity", t(`alerts.severity.${severity}`)), el("strong", "alert-title", words.title));
    const body = el("p", "alert-message", words.message);
    const action = el("p", "alert-action", words.action);
    const meta = el("p", "hint", when(alert.created_at));
    const deliveries = el("ul", "alert-deliveries");
    deliveries.append(...alert.deliveries.map(deliveryLine));
    if (alert.facts?.muted === true) deliveries.append(el("li", "alert-delivery", t("alerts.muted")));
    li.append(head, body, action, meta, deliveries);
    if (alert.acknowledged_at) {
      li.append(el("p", "hint", t("alerts.seenBy", { name: alert.acknowledged_by ?? "—", time: when(alert.acknowledged_at) })));
    } else {
      li.append(
        button(t("alerts.acknowledge"), async () => {
          if (message.check(await call("POST", `/api/admin/alerts/${alert.id}/acknowledge`), "alerts.acknowledged")) load();
        }),
      );
    }
    return li;
  }

  function renderAlerts() {
    summary.textContent = unseen > 0 ? t("alerts.unseen", { count: unseen }) : t("alerts.allSeen");
    list.replaceChildren(...(alerts.length ? alerts.map(alertItem) : [el("li", "hint", t("alerts.none"))]));
    ackAll.hidden = !alerts.some((a) => !a.acknowledged_at);
  }

  // Up to the newest alert shown: one raised meanwhile is not marked seen unseen.
  ackAll.addEventListener("click", async () => {
    const newest = Math.max(0, ...alerts.map((a) => Number(a.id) || 0));
    if (newest < 1) return;
    const done = await call("POST", "/api/admin/alerts/acknowledge-all", { up_to_id: newest });
    if (message.check(done, "alerts.acknowledgedAll", { count: done.body?.acknowledged ?? 0 })) load();
  });

  function renderSettings() {
    if (!settings) return;
    recipients.value = settings.mail_recipients.join("\n");
    mailUnavailable.hidden = settings.mail_available;
    webhook.value = settings.webhook_url ?? "";
    hoursOn.checked = settings.usual_hours_start !== null;
    hoursStart.value = settings.usual_hours_start ?? "07:00";
    hoursEnd.value = settings.usual_hours_end ?? "21:00";
    offlineOn.checked = settings.agent_offline_minutes !== null;
    offlineMinutes.value = String(settings.agent_offline_minutes ?? 60);
    syncEnabled();
    secretState.textContent = settings.webhook_secret_set ? t("alerts.secretSet") : "";
    rotate.hidden = !settings.webhook_url;
  }

  function syncEnabled() {
    hoursStart.disabled = !hoursOn.checked;
    hoursEnd.disabled = !hoursOn.checked;
    offlineMinutes.disabled = !offlineOn.checked;
  }

  function showSecret(secret) {
    secretCode.textContent = secret;
    secretBox.hidden = false;
  }

  function hideSecret() {
    secretCode.textContent = "";
    secretBox.hidden = true;
  }

  async function load() {
    const listed = await call("GET", "/api/admin/alerts");
    if (!message.check(listed)) return;
    const current = await call("GET", "/api/admin/alerts/settings");
    if (!message.check(current)) return;
    settings = current.body;
    showList(listed.body);
    renderSettings();
  }

  function showList(body) {
    alerts = Array.isArray(body.alerts) ? body.alerts : [];
    unseen = Number(body.unacknowledged) || 0;
    renderAlerts();
    hooks.badge("alerts", unseen);
  }

  async function refreshList() {
    // Delivery states change after the page loaded (a test alert goes out in seconds).
    const listed = await call("GET", "/api/admin/alerts", undefined, { background: true });
    if (listed.status === 200 && listed.body) showList(listed.body);
  }

  async function refreshBadge() {
    // A background poll: it must not keep a forgotten console signed in.
    const listed = await call("GET", "/api/admin/alerts", undefined, { background: true });
    if (listed.status === 200 && listed.body) hooks.badge("alerts", listed.body.unacknowledged);
  }

  hoursOn.addEventListener("change", syncEnabled);
  offlineOn.addEventListener("change", syncEnabled);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const minutes = Number.parseInt(offlineMinutes.value, 10);
    const result = await call("PUT", "/api/admin/alerts/settings", {
      mail_recipients: recipients.value.split(/\r?\n/).map((line) => line.trim()).filter(Boolean),
      webhook_url: webhook.value.trim() || null,
      usual_hours_start: hoursOn.checked ? hoursStart.value : null,
      usual_hours_end: hoursOn.checked ? hoursEnd.value : null,
      agent_offline_minutes: offlineOn.checked ? (Number.isFinite(minutes) ? minutes : 0) : null,
    });
    if (!message.check(result, "alerts.saved")) return;
    settings = result.body.settings;
    renderSettings();
    if (result.body.webhook_secret) showSecret(result.body.webhook_secret);
    else if (!settings.webhook_url) hideSecret();
  });

  rotate.addEventListener("click", () => {
    rotateConfirm.hidden = false;
  });
  document.getElementById("alerts-rotate-no").addEventListener("click", () => {
    rotateConfirm.hidden = true;
  });
  document.getElementById("alerts-rotate-yes").addEventListener("click", async () => {
    rotateConfirm.hidden = true;
    const result = await call("POST", "/api/admin/alerts/settings/webhook-secret");
    if (message.check(result, "alerts.rotated")) showSecret(result.body.webhook_secret);
  });

  document.getElementById("alerts-test").addEventListener("click", async () => {
    if (message.check(await call("POST", "/api/admin/alerts/test"), "alerts.testSent")) load();
  });

  setInterval(() => {
    if (consoleShown() && !pageShown("alerts")) refreshBadge();
  }, BADGE_POLL_MS);
  setInterval(() => {
    if (pageShown("alerts")) refreshList();
  }, PAGE_POLL_MS);

  return {
    show() {
      hideSecret();
      rotateConfirm.hidden = true;
      message.say(null);
      load();
    },
    relabel() {
      message.relabel();
      renderAlerts();
      renderSettings();
    },
    refreshBadge,
  };
}
