/**
 * The console's first page: who is connected to which clinic PC right now (refreshed every
 * few seconds while shown), with a button that ends a session after a confirmation; what
 * waits for the admin's decision; the alerts nobody has looked at yet.
 */

import { getLanguage, t } from "../core/i18n.js";
import { call } from "./api.js";
import { asking, cell, clinicTime, confirmed, el, messageLine, pageShown } from "./console_kit.js";

const REFRESH_MS = 5000;

function minutes(seconds) {
  return Math.floor(seconds / 60);
}

export function createDashboardPage(hooks) {
  const rows = document.getElementById("dashboard-sessions");
  const empty = document.getElementById("dashboard-no-sessions");
  const waiting = document.getElementById("dashboard-waiting");
  const recent = document.getElementById("dashboard-alerts");
  const message = messageLine(document.getElementById("dashboard-message"), hooks);
  let timer = null;
  let shown = null;

  function sessionRow(s) {
    const tr = el("tr");
    tr.dataset.sessionId = s.session_id;
    tr.dataset.hostId = s.host_id;
    const who = s.display_name ? `${s.display_name}（${s.username}）` : s.username;
    const actions = cell();
    actions.append(
      confirmed("dashboard.end", "dashboard.endQuestion", { who, host: s.host_name }, async () => {
        const result = await call("POST", `/api/admin/live-sessions/${encodeURIComponent(s.session_id)}/end`);
        if (message.check(result, "dashboard.ended")) render(result.body);
      }),
    );
    tr.append(cell(s.host_name), cell(who), cell(t("dashboard.minutes", { minutes: minutes(s.duration_s) })), actions);
    return tr;
  }

  function waitingItem(count, key, page) {
    const li = el("li");
    li.dataset.waiting = page;
    const link = el("a", "", t(key, { count }));
    link.href = `#/admin/${page}`;
    li.append(link);
    return li;
  }

  function render(view) {
    shown = view;
    rows.replaceChildren(...view.sessions.map(sessionRow));
    empty.hidden = view.sessions.length > 0;
    const items = [];
    if (view.waiting.vendor_requests) items.push(waitingItem(view.waiting.vendor_requests, "dashboard.waitingRequests", "requests"));
    if (view.waiting.devices) items.push(waitingItem(view.waiting.devices, "dashboard.waitingDevices", "devices"));
    if (view.waiting.alerts) items.push(waitingItem(view.waiting.alerts, "dashboard.waitingAlerts", "alerts"));
    if (!items.length) {
      items.push(el("li", "", t("dashboard.nothingWaiting")));
    }
    waiting.replaceChildren(...items);
    const lang = getLanguage();
    recent.replaceChildren(
      ...view.recent_alerts.map((alert) => {
        const words = alert.text[lang] ?? alert.text.ja;
        const li = el("li", "", `${clinicTime(alert.created_at)} ${words.title}`);
        li.dataset.severity = alert.severity;
        return li;
      }),
    );
  }

  async function load() {
    // A poll, not the admin's own activity: it must not keep their sign-in alive.
    const result = await call("GET", "/api/admin/dashboard", undefined, { background: true });
    if (message.check(result)) render(result.body);
  }

  function stop() {
    clearInterval(timer);
    timer = null;
  }

  return {
    show() {
      message.say(null);
      stop();
      load();
      timer = setInterval(() => {
        // Refresh only while this page is on screen; a confirmation in progress is kept.
        if (!pageShown("dashboard")) stop();
        else if (!asking(rows)) load();
      }, REFRESH_MS);
    },
    relabel() {
      message.relabel();
      if (shown) render(shown);
    },
  };
}
