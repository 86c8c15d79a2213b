/**
 * One row of a weekly-window editor: day checkboxes, a start and an end time, a remove
 * button. The grants page (a grant's hours) and the settings page (the clinic's opening
 * hours) edit the same shape, so they share this row.
 *
 * For tests: `.window-row` with `input[data-day]` checkboxes and `input.window-start` /
 * `input.window-end`.
 */

import { DAYS } from "../core/grants.js";
import { t } from "../core/i18n.js";
import { button, el } from "./console_kit.js";

const EMPTY = { days: [], start: "", end: "" };

/**
 * @param {{days: number[], start: string, end: string}} [initial] times as "HH:MM"
 * @param {() => void} [onRemove] called after the row left the page
 */
export function windowRow(initial = EMPTY, onRemove = () => {}) {
  const row = el("fieldset", "window-row");
  const days = el("div", "window-days");
  for (const day of DAYS) {
    const label = el("label", "window-day");
    const box = el("input");
    box.type = "checkbox";
    box.dataset.day = String(day);
    box.checked = initial.days.includes(day);
    label.append(box, el("span"));
    days.append(label);
  }
  const times = el("div", "window-times");
  const parts = [];
  for (const [kind, value] of [["start", initial.start], ["end", initial.end]]) {
    const label = el("label", `window-${kind}-label`);
    const input = el("input", `window-${kind}`);
    input.type = "time";
    input.step = "60";
    input.value = value;
    label.append(el("span"), input);
    parts.push(label);
  }
  const drop = button("", () => {
    row.remove();
    onRemove();
  });
  drop.classList.add("window-remove");
  times.append(...parts, drop);
  row.append(days, times);
  relabelWindowRow(row);
  return row;
}

/** Put the row's words in the current language. */
export function relabelWindowRow(row) {
  for (const label of row.querySelectorAll(".window-day")) {
    label.querySelector("span").textContent = t(`day.${label.querySelector("input").dataset.day}`);
  }
  row.querySelector(".window-start-label span").textContent = t("grants.start");
  row.querySelector(".window-end-label span").textContent = t("grants.end");
  row.querySelector(".window-remove").textContent = t("grants.removeWindow");
}

/** What the rows in `list` hold, as typed (checked by the caller). */
export function readWindowRows(list) {
  return [...list.querySelectorAll(".window-row")].map((row) => ({
    days: [...row.querySelectorAll("input[data-day]")].filter((b) => b.checked).map((b) => Number(b.dataset.day)),
    start: row.querySelector(".window-start").value,
    end: row.querySelector(".window-end").value,
  }));
}
