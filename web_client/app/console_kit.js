/**
 * What every console page shares: the page kit (elements, table cells, buttons, the page's
 * message line, clinic-time formatting: app/kit.js), the confirmation step of a destructive
 * action, and whether a page is on screen (for its polls).
 */

import { t } from "../core/i18n.js";
import { button, el } from "./kit.js";

export { button, cell, clinicTime, el, messageLine, signedOut } from "./kit.js";

/**
 * A destructive action's two steps in place of its button: the first click asks
 * (`questionKey`, with a confirm and a cancel button), only the confirm acts.
 * @param {{yesKey?: string, noKey?: string}} [labels] the two answers' words, when the
 *   page has its own ("削除する" rather than "はい、実行します")
 * @returns {HTMLElement} a span holding the button or the question
 */
export function confirmed(labelKey, questionKey, params, act, { yesKey = "console.confirm", noKey = "console.cancel" } = {}) {
  const holder = el("span", "confirm-step");
  const start = button(t(labelKey), () => {
    const question = el("span", "confirm-question", t(questionKey, params));
    const yes = button(t(yesKey), async () => {
      yes.disabled = true;
      await act();
    }, "button button-danger");
    const no = button(t(noKey), () => holder.replaceChildren(start));
    holder.replaceChildren(question, yes, no);
    yes.focus();
  }, "button button-quiet");
  holder.append(start);
  return holder;
}

/** Whether a confirmation is open under `container` (a refresh would throw it away). */
export function asking(container) {
  return container.querySelector(".confirm-question") !== null;
}

/** Whether the console is on screen (signed in as an admin). */
export function consoleShown() {
  return document.body.dataset.screen === "admin";
}

/** Whether console page `name` is the one on screen. */
export function pageShown(name) {
  return consoleShown() && !document.getElementById(`console-${name}`).hidden;
}
