/**
 * The admin console: a menu of pages (core/route.js CONSOLE_PAGES), one task per page.
 *
 * Each page is a module exporting a factory `(hooks) => { show(), relabel() }` bound to its
 * own `<div class="console-page" data-page="NAME">` in console.html; this module only switches
 * between them and marks the menu. A page may set a count badge on its menu link
 * (`hooks.badge(page, count)`), e.g. devices waiting for approval.
 */

import { t } from "../core/i18n.js";
import { createDashboardPage } from "./console_dashboard.js";
import { createReportPage } from "./console_report.js";
import { createSettingsPage } from "./console_settings.js";
import { createAlertsPage } from "./console_alerts.js";
import { createHostsPage } from "./console_hosts.js";
import { createGrantsPage } from "./console_grants.js";
import { createRequestsPage } from "./console_requests.js";
import { createAuditPage } from "./console_audit.js";
import { createDevicesPage } from "./console_devices.js";
import { el } from "./console_kit.js";
import { createUsersPage } from "./console_users.js";

// One line per page: the key is the page's route name.
const PAGES = {
  dashboard: createDashboardPage,
  users: createUsersPage,
  settings: createSettingsPage,
  report: createReportPage,
  alerts: createAlertsPage,
  hosts: createHostsPage,
  grants: createGrantsPage,
  requests: createRequestsPage,
  audit: createAuditPage,
  devices: createDevicesPage,
};

export function createConsole(hooks) {
  const nav = document.getElementById("console-nav");
  const counts = new Map();
  const pageHooks = {
    ...hooks,
    badge(page, count) {
      counts.set(page, count);
      renderBadges();
    },
  };
  const pages = new Map(Object.entries(PAGES).map(([name, create]) => [name, create(pageHooks)]));
  let current = null;

  function renderBadges() {
    for (const link of nav.querySelectorAll(".console-link")) {
      const count = counts.get(link.dataset.page) ?? 0;
      let badge = link.querySelector(".console-badge");
      if (count > 0) {
        if (!badge) {
          badge = el("span", "console-badge");
          link.append(badge);
        }
        badge.textContent = String(count);
        badge.setAttribute("aria-label", t("console.badge", { count }));
      } else if (badge) {
        badge.remove();
      }
    }
  }

  return {
    /** Show console page `name` (a CONSOLE_PAGES entry). */
    show(name) {
      current = pages.has(name) ? name : pages.keys().next().value;
      for (const div of document.querySelectorAll(".console-page")) {
        div.hidden = div.dataset.page !== current;
      }
      for (const link of nav.querySelectorAll(".console-link")) {
        if (link.dataset.page === current) link.setAttribute("aria-current", "page");
        else link.removeAttribute("aria-current");
      }
      pages.get(current).show();
      // The other pages keep their menu badges current (e.g. unacknowledged alerts).
      for (const [name, page] of pages) {
        if (name !== current) page.refreshBadge?.();
      }
    },
    relabel() {
      renderBadges();
      if (current) pages.get(current).relabel();
    },
  };
}
