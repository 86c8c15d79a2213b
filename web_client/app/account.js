/**
 * The account page: passkeys (add, remove), the authenticator app (set up or replace,
 * remove), recovery codes (count, renew), signed-in devices (end one, or all), password.
 * Times are shown in the clinic's zone (core/clinic_time.js); the broker stores UTC.
 */

import { errorKey, formatRecoveryCodes } from "../core/auth.js";
import { inClinicZone } from "../core/clinic_time.js";
import { t } from "../core/i18n.js";
import { call } from "./api.js";
import { mountFactorChooser } from "./factors.js";

function when(iso) {
  if (!iso) return t("account.never");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleString(document.documentElement.lang, inClinicZone());
}

function item(text, buttonLabel, onClick) {
  const li = document.createElement("li");
  li.className = "item";
  const span = document.createElement("span");
  span.textContent = text;
  li.append(span);
  if (buttonLabel) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button button-quiet";
    button.textContent = buttonLabel;
    button.addEventListener("click", onClick);
    li.append(button);
  }
  return li;
}

export function createAccount(hooks) {
  const message = document.getElementById("account-message");
  const passkeys = document.getElementById("account-passkeys");
  const totpState = document.getElementById("account-totp-state");
  const factorBox = document.getElementById("account-factor");
  const recoveryState = document.getElementById("account-recovery-state");
  const codeList = document.getElementById("account-code-list");
  const sessions = document.getElementById("account-sessions");
  const who = document.getElementById("account-who");
  const passwordForm = document.getElementById("account-password-form");
  let messageKey = null;
  let user = null;

  function say(key, kind = "error") {
    messageKey = key;
    message.textContent = key ? t(key) : "";
    message.dataset.kind = kind;
  }

  async function check(result, okKey = null) {
    if (result.status === 401) {
      hooks.onSession({ state: "anonymous" });
      return false;
    }
    if (result.status >= 300 || result.status === 0) {
      say(errorKey(result.status, result.body));
      return false;
    }
    say(okKey, "ok");
    return true;
  }

  async function refresh() {
    who.textContent = user ? `${user.display_name}（${user.username}）— ${t(`role.${user.role}`)}` : "";
    const factors = await call("GET", "/api/factors");
    if (!(await check(factors, messageKey))) return;
    const body = factors.body;
    passkeys.replaceChildren(
      ...body.passkeys.map((key) =>
        item(
          `${key.name} — ${t("account.added")} ${when(key.created_at)} / ${t("account.lastUsed")} ${when(key.last_used_at)}`,
          t("account.remove"),
          async () => {
            if (await check(await call("DELETE", `/api/factors/passkeys/${key.id}`), "account.removed")) refresh();
          },
        ),
      ),
    );
    if (body.passkeys.length === 0) passkeys.replaceChildren(item(t("account.noPasskeys")));
    totpState.replaceChildren();
    totpState.textContent = body.totp ? t("account.totpOn") : t("account.totpOff");
    if (body.totp) {
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button button-quiet";
      remove.textContent = t("account.remove");
      remove.addEventListener("click", async () => {
        if (await check(await call("DELETE", "/api/factors/totp"), "account.removed")) refresh();
      });
      totpState.append(" ", remove);
    }
    recoveryState.textContent = t("account.codesLeft", { count: body.recovery_codes_left });
    const live = await call("GET", "/api/account/sessions");
    if (!(await check(live, messageKey))) return;
    sessions.replaceChildren(
      ...live.body.map((s) =>
        item(
          `${s.current ? t("account.thisDevice") : ""} ${s.user_agent.slice(0, 60)} — ${s.source_address} — ${when(s.last_seen_at)}`,
          s.current ? null : t("account.end"),
          async () => {
            if (await check(await call("DELETE", `/api/account/sessions/${s.id}`), "account.ended")) refresh();
          },
        ),
      ),
    );
  }

  mountFactorChooser(factorBox, () => {
    say("account.factorAdded");
    refresh();
  }, { compact: true });

  document.getElementById("account-recovery-renew").addEventListener("click", async () => {
    const result = await call("POST", "/api/factors/recovery-codes");
    if (!(await check(result, "codes.intro"))) return;
    codeList.replaceChildren(
      ...formatRecoveryCodes(result.body.recovery_codes).map((code) => {
        const li = document.createElement("li");
        li.textContent = code;
        return li;
      }),
    );
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
    await check(result, "account.passwordChanged");
  });

  return {
    show(session) {
      user = session.user ?? null;
      codeList.hidden = true;
      codeList.replaceChildren();
      say(null);
      refresh();
    },
    relabel() {
      if (user) refresh();
    },
  };
}
