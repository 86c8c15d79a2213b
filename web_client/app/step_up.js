/**
 * The step-up dialog: before a factor or password change the broker may answer 403
 * `step_up_required` (the second factor was shown too long ago: broker/api/step_up.py).
 * app/api.js then calls the handler set here, which asks for an authenticator code, a
 * recovery code or a passkey, sends it to /api/step-up/..., and says whether to retry the
 * change once. Text only through t(); no markup from data.
 *
 * For tests: the dialog is `dialog#step-up`, its code field `#step-up-code`, its message
 * `#step-up-message`.
 */

import { errorKey } from "../core/auth.js";
import { t } from "../core/i18n.js";
import { credentialToJSON, requestOptionsFromJSON } from "../core/webauthn.js";
import { call, setStepUpHandler } from "./api.js";
import { button, el } from "./kit.js";

const CODE_PATTERN = /^[0-9 ]{6,8}$/;

/** The broker's answer to one step-up attempt: true when it held. */
async function sendCode(code) {
  const compact = code.trim();
  // Six digits are an authenticator code; anything else is tried as a recovery code.
  const path = CODE_PATTERN.test(compact) ? "/api/step-up/totp" : "/api/step-up/recovery";
  return call("POST", path, { code: compact }, { noStepUp: true });
}

async function sendPasskey() {
  const options = await call("POST", "/api/step-up/passkey/options", undefined, { noStepUp: true });
  if (options.status !== 200) return options;
  let credential;
  try {
    credential = await navigator.credentials.get({ publicKey: requestOptionsFromJSON(options.body) });
  } catch {
    return { status: -1, body: { error: "passkey_cancelled" } };
  }
  return call("POST", "/api/step-up/passkey", { credential: credentialToJSON(credential) }, { noStepUp: true });
}

/** Ask once; resolves true when the broker accepted a second factor, false if cancelled. */
export function askStepUp() {
  return new Promise((resolve) => {
    const dialog = el("dialog", "dialog step-up");
    dialog.id = "step-up";
    const form = el("form");
    form.method = "dialog";
    const title = el("h2", "", t("stepUp.title"));
    const intro = el("p", "", t("stepUp.intro"));
    const label = el("label", "", t("stepUp.code"));
    const input = el("input");
    input.id = "step-up-code";
    input.autocomplete = "one-time-code";
    input.inputMode = "text";
    input.maxLength = 64;
    label.append(input);
    const message = el("p", "form-message");
    message.id = "step-up-message";
    message.setAttribute("role", "alert");
    let settled = false;

    function finish(ok) {
      if (settled) return;
      settled = true;
      dialog.close();
      dialog.remove();
      resolve(ok);
    }

    async function handle(result) {
      if (result.status === 200 && result.body?.ok === true) {
        finish(true);
        return;
      }
      if (result.status === -1) {
        message.textContent = t("passkey.cancelled");
        return;
      }
      message.textContent = t(errorKey(result.status, result.body));
      // Locked out (the session ended): nothing more to try here.
      if (result.status === 401 || result.status === 429) finish(false);
    }

    const confirm = el("button", "button", t("stepUp.confirm"));
    confirm.type = "submit";
    const passkey = button(t("stepUp.passkey"), async () => handle(await sendPasskey()));
    const cancel = button(t("stepUp.cancel"), () => finish(false));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!input.value.trim()) return;
      confirm.disabled = true;
      try {
        await handle(await sendCode(input.value));
      } finally {
        confirm.disabled = false;
        input.value = "";
      }
    });
    dialog.addEventListener("cancel", () => finish(false));
    const actions = el("div", "actions");
    actions.append(confirm, passkey, cancel);
    form.append(title, intro, label, message, actions);
    dialog.append(form);
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

/** Have every refused change on this page ask for the second factor and retry once. */
export function enableStepUp() {
  setStepUpHandler(askStepUp);
}
