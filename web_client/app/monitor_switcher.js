/**
 * The viewer's monitor switcher: a <select> of the host's monitors (core/monitors.js), shown
 * only when the host has several, with "all as one desktop" last. A choice is sent at once;
 * the host's next list (sent after it has switched) says what is really shown.
 */

import { t } from "../core/i18n.js";
import { switcherEntries } from "../core/monitors.js";

/**
 * @param {HTMLSelectElement} select
 * @param {HTMLElement} box what is hidden when there is nothing to choose
 * @param {(id: number) => boolean} choose sends the choice to the host
 */
export function createMonitorSwitcher(select, box, choose) {
  let last = null;

  function render() {
    const entries = last ? switcherEntries(last.monitors, t) : [];
    box.hidden = entries.length === 0;
    select.replaceChildren(
      ...entries.map(({ value, label }) => {
        const option = document.createElement("option");
        option.value = String(value);
        option.textContent = label;
        return option;
      }),
    );
    if (last) select.value = String(last.selected);
    document.body.dataset.monitor = last ? String(last.selected) : "none";
  }

  select.addEventListener("change", () => {
    const id = Number.parseInt(select.value, 10);
    // Not sent (the channel is closing): show again what is on screen.
    if (!choose(id) && last) select.value = String(last.selected);
  });

  return {
    /** A validated `monitors` message from the host. */
    handle(message) {
      last = message;
      render();
    },
    reset() {
      last = null;
      render();
    },
    relabel: render,
  };
}
