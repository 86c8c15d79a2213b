/**
 * console.html: the admin console (app/console.js and its pages, one task each). Only an
 * admin who completed MFA sees it; anyone else is handed to index.html (app/shell.js).
 */

import { createConsole } from "./console.js";
import { startPage } from "./shell.js";

const admin = createConsole({ onSession: (next) => shell.applySession(next) });

const shell = startPage({
  page: "console",
  enter(screen, route) {
    if (screen !== "admin") throw new Error(`unhandled screen ${screen}`);
    admin.show(route.page);
  },
  relabel(screen) {
    if (screen === "admin") admin.relabel();
  },
});
