// Every browser module parses as an ES module. The other tests import only the pure core
// modules; a syntax slip in an app module (say, in a merge) would otherwise only show in
// the e2e tier as a page that never leaves "loading".

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const CLIENT = resolve(dirname(fileURLToPath(import.meta.url)), "../../web_client");

for (const folder of ["app", "core"]) {
  for (const name of readdirSync(join(CLIENT, folder)).filter((n) => n.endsWith(".js"))) {
    test(`${folder}/${name} parses as an ES module`, () => {
      const source = readFileSync(join(CLIENT, folder, name));
      assert.doesNotThrow(() =>
        execFileSync(process.execPath, ["--input-type=module", "--check"], { input: source, stdio: "pipe" }),
      );
    });
  }
}
