/**
 * The console's users page: everyone in the clinic with role, factors and state; invite (one-time
 * link), change role, disable/enable, reset factors (new link). Clinic PCs and their
 * certificates have their own page (console_hosts.js), so has the audit trail
 * (console_audit.js). The broker scopes all of it to the admin's own organization.
 */

import { t } from "../core/i18n.js";
import { call } from "./api.js";
import { button, cell, confirmed, el, messageLine } from "./console_kit.js";

const ROLES = ["admin", "doctor", "staff", "vendor"];

export function createUsersPage(hooks) {
  const rows = document.getElementById("admin-users");
  const linkBox = document.getElementById("admin-link");
  const linkUrl = document.getElementById("admin-link-url");
  const invite = document.getElementById("admin-invite-form");
  const message = messageLine(document.getElementById("admin-message"), hooks);
  const check = message.check;

  function showLink(url) {
    linkUrl.textContent = url;
    linkBox.hidden = false;
  }

  function userRow(user) {
    const tr = el("tr");
    tr.dataset.userId = String(user.id);
    tr.dataset.username = user.username;
    const name = cell(`${user.display_name}（${user.username}）${user.disabled ? ` — ${t("admin.disabled")}` : ""}`);
    const roleCell = cell();
    const select = el("select");
    select.setAttribute("aria-label", t("admin.role"));
    for (const role of ROLES) {
      const option = el("option", "", t(`role.${role}`));
      option.value = role;
      option.selected = role === user.role;
      select.append(option);
    }
    select.addEventListener("change", async () => {
      check(await call("PATCH", `/api/admin/users/${user.id}`, { role: select.value }), "admin.saved");
      load();
    });
    roleCell.append(select);
    const factors = [];
    if (user.passkeys) factors.push(t("admin.passkeys", { count: user.passkeys }));
    if (user.totp) factors.push(t("admin.totp"));
    const factorCell = cell(factors.length ? factors.join("・") : t("admin.notEnrolled"));
    const actions = cell();
    const who = { name: user.display_name };
    const toggle = async () => {
      if (check(await call("PATCH", `/api/admin/users/${user.id}`, { disabled: !user.disabled }), "admin.saved")) load();
    };
    actions.append(
      user.disabled
        ? button(t("admin.enable"), toggle)
        : confirmed("admin.disable", "admin.disableQuestion", who, toggle),
      confirmed("admin.reset", "admin.resetQuestion", who, async () => {
        const result = await call("POST", `/api/admin/users/${user.id}/reset-factors`);
        if (check(result, "admin.resetDone")) {
          showLink(result.body.enrollment_url);
          load();
        }
      }),
    );
    tr.append(name, roleCell, factorCell, actions);
    return tr;
  }

  async function load() {
    const users = await call("GET", "/api/admin/users");
    if (!check(users)) return;
    rows.replaceChildren(...users.body.map(userRow));
    // Names are unique per clinic; the code tells two clinics' "tanaka" apart at sign-in.
    const session = await call("GET", "/api/session");
    const code = session.status === 200 ? session.body?.user?.clinic_code : undefined;
    document.getElementById("admin-clinic-code").textContent = code ? t("admin.clinicCode", { code }) : "";
  }

  invite.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await call("POST", "/api/admin/users", {
      username: document.getElementById("invite-username").value.trim(),
      display_name: document.getElementById("invite-display").value.trim(),
      role: document.getElementById("invite-role").value,
    });
    if (check(result, "admin.invited")) {
      invite.reset();
      showLink(result.body.enrollment_url);
      load();
    }
  });

  return {
    show() {
      linkBox.hidden = true;
      message.say(null);
      load();
    },
    relabel() {
      message.relabel();
      load();
    },
  };
}
