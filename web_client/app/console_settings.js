/**
 * The console's settings page: the clinic's limits for remote sessions (GET/PUT
 * /api/admin/settings). Minutes on screen, seconds on the wire; each field shows the
 * broker's default beside it. The privacy screen is off / outside opening hours / always;
 * the opening hours are edited in rows like the grants' windows (`.window-row` with
 * `input[data-day]`, `input.window-start` / `.window-end`) and saved with the form.
 */

import { t } from "../core/i18n.js";
import { readHours, toEditor } from "../core/opening_hours.js";
import { readNetworks } from "../core/source_networks.js";
import { call } from "./api.js";
import { clinicTime, messageLine } from "./console_kit.js";
import { readWindowRows, windowRow } from "./window_rows.js";

const MINUTE_FIELDS = [
  ["idle_s", "settings-idle", "settings.idle"],
  ["max_s", "settings-max", "settings.max"],
  ["warn_s", "settings-warn", "settings.warn"],
];
const SWITCHES = [
  ["watermark", "settings-watermark"],
  ["end_on_violation", "settings-end-on-violation"],
  ["lan_candidates", "settings-lan-candidates"],
];
// The ICE policy is a word on the wire ("all" or "relay") and one checkbox on the page.
const RELAY_ONLY = "settings-relay-only";
const PRIVACY_SCREEN = "settings-privacy-screen";

export function createSettingsPage(hooks) {
  const form = document.getElementById("settings-form");
  const updated = document.getElementById("settings-updated");
  const message = messageLine(document.getElementById("settings-message"), hooks);
  const hoursList = document.getElementById("settings-hours");
  const hoursNone = document.getElementById("settings-hours-none");
  let shown = null;

  function hoursGone() {
    hoursNone.hidden = hoursList.querySelector(".window-row") !== null;
  }

  function renderHoursHint(view) {
    document.getElementById("settings-hours-zone").textContent = t("settings.hoursZone", {
      zone: view.time_zone,
      max: view.max_opening_windows,
    });
  }

  function render(view) {
    shown = view;
    for (const [name, id] of MINUTE_FIELDS) {
      const input = document.getElementById(id);
      const limit = view.limits[name];
      input.value = String(Math.round(view.policy[name] / 60));
      input.min = String(Math.ceil(limit.low / 60));
      input.max = String(Math.floor(limit.high / 60));
      document.getElementById(`${id}-hint`).textContent = `${t("settings.range", {
        low: input.min,
        high: input.max,
      })}・${t("settings.default", { value: Math.round(view.defaults[name] / 60) })}`;
    }
    for (const [name, id] of SWITCHES) {
      document.getElementById(id).checked = view.policy[name];
      document.getElementById(`${id}-hint`).textContent = t("settings.default", {
        value: t(view.defaults[name] ? "settings.on" : "settings.off"),
      });
    }
    const textEntry = document.getElementById("settings-text-entry");
    textEntry.value = view.policy.text_entry;
    document.getElementById("settings-text-entry-hint").textContent = t("settings.default", {
      value: t(`settings.textEntry.${view.defaults.text_entry}`),
    });
    document.getElementById(PRIVACY_SCREEN).value = view.policy.privacy_screen;
    document.getElementById(`${PRIVACY_SCREEN}-hint`).textContent = t("settings.default", {
      value: t(`settings.privacyScreen.${view.defaults.privacy_screen}`),
    });
    hoursList.replaceChildren(...view.opening_hours.map((w) => windowRow(toEditor(w), hoursGone)));
    hoursNone.hidden = view.opening_hours.length > 0;
    renderHoursHint(view);
    document.getElementById(RELAY_ONLY).checked = view.policy.ice_policy === "relay";
    document.getElementById(`${RELAY_ONLY}-hint`).textContent = t("settings.default", {
      value: t(view.defaults.ice_policy === "relay" ? "settings.on" : "settings.off"),
    });
    updated.textContent = view.updated_at
      ? t("settings.updated", { time: clinicTime(view.updated_at) })
      : t("settings.neverChanged");
  }

  async function load() {
    const result = await call("GET", "/api/admin/settings");
    if (message.check(result)) render(result.body);
  }

  document.getElementById("settings-add-hours").addEventListener("click", () => {
    hoursList.append(windowRow(undefined, hoursGone));
    hoursNone.hidden = true;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!shown) return;
    const hours = readHours(
      readWindowRows(hoursList),
      shown.max_opening_windows,
    );
    if (hours.problem) {
      message.say(hours.problem, "error", { max: shown.max_opening_windows });
      return;
    }
    const body = { opening_hours: hours.hours };
    for (const [name, id] of MINUTE_FIELDS) {
      const minutes = Number.parseInt(document.getElementById(id).value, 10);
      if (!Number.isFinite(minutes)) {
        message.say("api.setting_out_of_range");
        return;
      }
      body[name] = minutes * 60;
    }
    for (const [name, id] of SWITCHES) body[name] = document.getElementById(id).checked;
    body.privacy_screen = document.getElementById(PRIVACY_SCREEN).value;
    body.text_entry = document.getElementById("settings-text-entry").value;
    body.ice_policy = document.getElementById(RELAY_ONLY).checked ? "relay" : "all";
    const result = await call("PUT", "/api/admin/settings", body);
    if (message.check(result, "settings.saved")) render(result.body);
  });

  const sources = createSourcesForm(hooks);

  return {
    show() {
      message.say(null);
      load();
      sources.show();
    },
    relabel() {
      message.relabel();
      if (shown) render(shown);
      sources.relabel();
    },
  };
}

const AUDIENCES = ["everyone", "admin", "vendor"];
const SOURCES_URL = "/api/admin/settings/source-networks";

/** The allow-lists of source networks (MHLW row 17): one textarea per audience. */
function createSourcesForm(hooks) {
  const form = document.getElementById("sources-form");
  const hint = document.getElementById("sources-hint");
  const message = messageLine(document.getElementById("sources-message"), hooks);
  let shown = null;

  function render(view) {
    shown = view;
    for (const audience of AUDIENCES) {
      document.getElementById(`sources-${audience}`).value = view[audience].join("\n");
    }
    renderHint();
  }

  function renderHint() {
    if (!shown) return;
    hint.textContent = `${t("sources.yourAddress", { address: shown.your_address })}・${t("sources.max", {
      max: shown.max_networks,
    })}`;
  }

  async function load() {
    const result = await call("GET", SOURCES_URL);
    if (message.check(result)) render(result.body);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!shown) return;
    const body = {};
    for (const audience of AUDIENCES) {
      const read = readNetworks(document.getElementById(`sources-${audience}`).value, shown.max_networks);
      if (!read.ok) {
        message.say(read.error, "error", read.params);
        return;
      }
      body[audience] = read.networks;
    }
    const result = await call("PUT", SOURCES_URL, body);
    if (result.body?.error === "source_networks_lockout") {
      message.say("sources.lockout", "error", { address: shown.your_address });
      return;
    }
    if (message.check(result, "sources.saved")) render(result.body);
  });

  return {
    show() {
      message.say(null);
      load();
    },
    relabel() {
      message.relabel();
      renderHint();
    },
  };
}
