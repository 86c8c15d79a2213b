// A change refused with step_up_required asks the step-up handler once and retries once
// (web_client/app/api.js); without a handler, or when it is declined, the refusal stands.
import assert from "node:assert/strict";
import test from "node:test";

import { call, setCsrf, setStepUpHandler } from "../../web_client/app/api.js";

function fakeFetch(answers) {
  const seen = [];
  globalThis.fetch = async (path, init) => {
    seen.push({ path, method: init.method });
    const [status, body] = answers[Math.min(seen.length - 1, answers.length - 1)];
    return { status, json: async () => body };
  };
  return seen;
}

const REFUSED = [403, { error: "step_up_required", message: "show your second factor again first" }];

test("a step_up_required refusal asks once, then the change is sent again", async () => {
  setCsrf("c".repeat(43));
  const seen = fakeFetch([REFUSED, [200, { recovery_codes: ["a"] }]]);
  let asked = 0;
  setStepUpHandler(async () => {
    asked += 1;
    return true;
  });
  const result = await call("POST", "/api/factors/recovery-codes");
  assert.equal(result.status, 200);
  assert.equal(asked, 1);
  assert.deepEqual(seen.map((s) => s.path), ["/api/factors/recovery-codes", "/api/factors/recovery-codes"]);
});

test("a declined step-up, a second refusal or no handler leaves the refusal", async () => {
  setCsrf("c".repeat(43));
  let seen = fakeFetch([REFUSED]);
  let asked = 0;
  setStepUpHandler(async () => {
    asked += 1;
    return asked === 1; // accepted once: the retry is refused again and not asked again
  });
  let result = await call("DELETE", "/api/factors/totp");
  assert.equal(result.status, 403);
  assert.equal(asked, 1);
  assert.equal(seen.length, 2);
  seen = fakeFetch([REFUSED]);
  result = await call("DELETE", "/api/factors/totp");
  assert.equal(result.body.error, "step_up_required");
  assert.equal(asked, 2);
  assert.equal(seen.length, 1, "declined: not sent again");
  setStepUpHandler(null);
  seen = fakeFetch([REFUSED]);
  result = await call("POST", "/api/account/password", { current_password: "x", new_password: "y" });
  assert.equal(result.status, 403);
  assert.equal(seen.length, 1);
});
