/**
 * The account page: passkeys (add, remove), the authenticator app (set up or replace,
 * remove), recovery codes (count, renew), signed-in devices (end one, or all), password.
 * Times are shown in the clinic's zone (core/clinic_time.js); the broker stores UTC.
 */

import { formatRecoveryCodes } from "../core/auth.js";
import { defaultLabel } from "../core/device_proof.js";
import { t } from "../core/i18n.js";
import { call } from "./api.js";
import { mountFactorChooser } from "./factors.js";
import { button, clinicTime, el, messageLine } from "./kit.js";
import { enableStepUp } from "./step_up.js";
import { attachCodeTools } from "./code_tools.js";

function when(iso) {
  return clinicTime(iso, { none: t("account.never") });
}

function item(text, buttonLabel, onClick) {
  const li = el("li", "item");
  li.append(el("span", "", text));
  if (buttonLabel) li.append(button(buttonLabel, onClick));
  return li;
}

export function createAccount(hooks) {
  // Factor and password changes may need the second factor again (step-up dialog).
  enableStepUp();
  const message = messageLine(document.getElementById("account-message"), hooks);
  const check = message.check;
  const passkeys = document.getElementById("account-passkeys");
  const totpState = document.getElementById("account-totp-state");
  const factorBox = document.getElementById("account-factor");
  const recoveryState = document.getElementById("account-recovery-state");
  const codeList = document.getElementById("account-code-list");
  const codeTools = attachCodeTools(codeList);
  const sessions = document.getElementById("account-sessions");
  const who = document.getElementById("account-who");
  const passwordForm = document.getElementById("account-password-form");
  let user = null;

  async function refresh() {
    who.textContent = user ? `${user.display_name}（${user.username}）— ${t(`role.${user.role}`)}` : "";
    const factors = await call("GET", "/api/factors");
    if (!check(factors)) return;
    const body = factors.body;
    passkeys.replaceChildren(
      ...body.passkeys.map((key) =>
        item(
          `${key.name} — ${t("account.added")} ${when(key.created_at)} / ${t("account.lastUsed")} ${when(key.last_used_at)}`,
          t("account.remove"),
          async () => {
            if (check(await call("DELETE", `/api/factors/passkeys/${key.id}`), "account.removed")) refresh();
          },
        ),
      ),
    );
    if (body.passkeys.length === 0) passkeys.replaceChildren(item(t("account.noPasskeys")));
    totpState.replaceChildren();
    totpState.textContent = body.totp ? t("account.totpOn") : t("account.totpOff");
    if (body.totp) {
      const remove = button(t("account.remove"), async () => {
        if (check(await call("DELETE", "/api/factors/totp"), "account.removed")) refresh();
      });
      totpState.append(" ", remove);
    }
    recoveryState.textContent = t("account.codesLeft", { count: body.recovery_codes_left });
    const live = await call("GET", "/api/account/sessions");
    if (!check(live)) return;
    sessions.replaceChildren(
      ...live.body.map((s) =>
        item(
          // "Chrome / Windows", not a cut-off User-Agent string nobody can read.
          `${s.current ? t("account.thisDevice") : ""} ${defaultLabel(s.user_agent)} — ${s.source_address} — ${when(s.last_seen_at)}`,
          s.current ? null : t("account.end"),
          async () => {
            if (check(await call("DELETE", `/api/account/sessions/${s.id}`), "account.ended")) refresh();
          },
        ),
      ),
    );
  }

  mountFactorChooser(factorBox, () => {
    message.say("account.factorAdded", "ok");
    refresh();
  }, { compact: true });

  document.getElementById("account-recovery-renew").addEventListener("click", async () => {
    const result = await call("POST", "/api/factors/recovery-codes");
    if (!check(result, "codes.intro")) return;
    codeList.replaceChildren(...formatRecoveryCodes(result.body.recovery_codes).map((code) => el("li", "", code)));
    codeList.hidden = false;
    refresh();
  });

  document.getElementById("account-logout-all").addEventListener("click", async () => {
    await call("POST", "/api/logout-everywhere");
    hooks.onSession({ state: "anonymous" });
  });

  passwordForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await call("POST", "/api/account/password", {
      current_password: document.getElementById("account-current").value,
      new_password: document.getElementById("account-new").value,
    });
    passwordForm.reset();
    check(result, "account.passwordChanged");
  });

  return {
    show(session) {
      user = session.user ?? null;
      codeList.hidden = true;
      codeList.replaceChildren();
      message.say(null);
      refresh();
    },
    relabel() {
      codeTools.relabel();
      message.relabel();
      if (user) refresh();
    },
  };
}
