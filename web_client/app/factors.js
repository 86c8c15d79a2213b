/**
 * Enrolling a second factor, shared by first enrollment and the account page: a passkey
 * (preferred: one button) or an authenticator app (QR code as an image, the secret as text
 * for typing by hand, then one code to confirm).
 *
 * For tests: the container gets data-factor-step = choose | totp | done; the secret is in
 * `.totp-secret`, the QR in `img.totp-qr`.
 */

import { errorKey } from "../core/auth.js";
import { t } from "../core/i18n.js";
import { creationOptionsFromJSON, credentialToJSON } from "../core/webauthn.js";
import { call } from "./api.js";
import { button, el } from "./kit.js";

/** A new passkey: options from the broker, create() in the browser, verify on the broker. */
export async function registerPasskey(name) {
  const options = await call("POST", "/api/factors/passkeys/options");
  if (options.status !== 200) return { ok: false, key: errorKey(options.status, options.body) };
  let credential;
  try {
    credential = await navigator.credentials.create({
      publicKey: creationOptionsFromJSON(options.body),
    });
  } catch {
    return { ok: false, key: "passkey.cancelled" };
  }
  const result = await call("POST", "/api/factors/passkeys", {
    credential: credentialToJSON(credential),
    name,
  });
  if (result.status !== 200) return { ok: false, key: errorKey(result.status, result.body) };
  return { ok: true, body: result.body };
}

/**
 * Render the factor chooser into `container`; `onEnrolled(body)` gets the broker's answer
 * (with recovery codes when this completed a first enrollment).
 */
export function mountFactorChooser(container, onEnrolled, { compact = false } = {}) {
  const message = el("p", "form-message");
  message.setAttribute("role", "alert");

  function say(key) {
    message.textContent = key ? t(key) : "";
  }

  function choose() {
    container.dataset.factorStep = "choose";
    const intro = el("p", "", t(compact ? "factor.addIntro" : "factor.intro"));
    const passkey = button(t("factor.passkey"), async () => {
      say(null);
      passkey.disabled = true;
      const result = await registerPasskey(t("factor.passkeyName"));
      passkey.disabled = false;
      if (!result.ok) {
        say(result.key);
        return;
      }
      container.dataset.factorStep = "done";
      onEnrolled(result.body);
    }, "button");
    passkey.id = "factor-passkey";
    const totp = button(t("factor.totp"), startTotp);
    totp.id = "factor-totp";
    const hint = el("p", "hint", t("factor.passkeyHint"));
    container.replaceChildren(intro, passkey, hint, totp, message);
  }

  async function startTotp() {
    say(null);
    const started = await call("POST", "/api/factors/totp");
    if (started.status !== 200) {
      say(errorKey(started.status, started.body));
      return;
    }
    container.dataset.factorStep = "totp";
    const steps = el("ol", "steps");
    steps.append(el("li", "", t("factor.totpStep1")), el("li", "", t("factor.totpStep2")));
    const qr = el("img", "totp-qr");
    qr.src = started.body.qr_svg;
    qr.alt = t("factor.qrAlt");
    qr.width = 220;
    qr.height = 220;
    const secretLabel = el("p", "hint", t("factor.secretLabel"));
    const secret = el("code", "totp-secret", started.body.secret.replace(/(.{4})/g, "$1 ").trim());
    const form = el("form", "form");
    form.noValidate = true;
    const label = el("label", "", t("mfa.totpLabel"));
    const input = el("input");
    input.id = "factor-totp-code";
    label.htmlFor = input.id;
    input.inputMode = "numeric";
    input.autocomplete = "one-time-code";
    input.maxLength = 6;
    const submit = el("button", "button", t("factor.confirm"));
    submit.type = "submit";
    form.append(label, input, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      say(null);
      const result = await call("POST", "/api/factors/totp/confirm", { code: input.value.trim() });
      if (result.status !== 200) {
        say(errorKey(result.status, result.body));
        input.select();
        return;
      }
      container.dataset.factorStep = "done";
      onEnrolled(result.body);
    });
    const back = button(t("factor.back"), choose);
    container.replaceChildren(steps, qr, secretLabel, secret, form, message, back);
    input.focus();
  }

  choose();
  return { reset: choose };
}
