/**
 * index.html: signing in (password, second factor), enrollment from an invitation link,
 * the account page and the host list. The viewer and the console are pages of their own
 * (app/viewer_page.js, app/console_page.js); app/shell.js hands their routes over.
 */

import { createAccount } from "./account.js";
import { createEnrollment } from "./enroll.js";
import { createHostList } from "./hosts.js";
import { startPage } from "./shell.js";
import { createSignIn } from "./signin.js";

const hooks = { onSession: (next) => shell.applySession(next) };
const hostList = createHostList({
  list: document.getElementById("host-list"),
  message: document.getElementById("hosts-message"),
  updated: document.getElementById("hosts-updated"),
  onUnauthorized: () => shell.refreshSession(),
});
const signIn = createSignIn(hooks);
const enrollment = createEnrollment(hooks);
const account = createAccount(hooks);

const shell = startPage({
  page: "index",
  enter(screen, route, session) {
    if (screen !== "hosts") hostList.stop();
    switch (screen) {
      case "login":
        signIn.showLoginScreen();
        break;
      case "mfa":
        signIn.showMfaScreen(session.methods);
        break;
      case "enroll":
        enrollment.show(route.token ?? null, session.state);
        break;
      case "hosts":
        hostList.start();
        break;
      case "account":
        account.show(session);
        break;
      default:
        throw new Error(`unhandled screen ${screen}`);
    }
  },
  relabel(screen) {
    hostList.relabel();
    signIn.relabel();
    enrollment.relabel();
    if (screen === "account") account.relabel();
  },
  leave() {
    hostList.stop();
  },
});
