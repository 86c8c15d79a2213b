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

// Every import names a file that exists and a name that file exports: linking the modules
// (node:vm, which needs --experimental-vm-modules, so in a child process) finds a name lost
// when code moves between modules, before a page fails to load in a browser.
const LINK_SCRIPT = `
import vm from "node:vm";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
const root = process.argv[1];
const modules = new Map();
function load(path) {
  if (!modules.has(path)) {
    modules.set(path, new vm.SourceTextModule(readFileSync(path, "utf8"), { identifier: path }));
  }
  return modules.get(path);
}
const problems = [];
for (const folder of ["app", "core"]) {
  for (const name of readdirSync(join(root, folder)).filter((n) => n.endsWith(".js"))) {
    const module = load(join(root, folder, name));
    if (module.status !== "unlinked") continue;
    try {
      await module.link((specifier, from) => load(resolve(dirname(from.identifier), specifier)));
    } catch (err) {
      problems.push(folder + "/" + name + ": " + err.message);
    }
  }
}
process.stdout.write(JSON.stringify(problems));
`;

test("every import of app/ and core/ names an existing module and export", () => {
  const out = execFileSync(
    process.execPath,
    ["--experimental-vm-modules", "--no-warnings", "--input-type=module", "-e", LINK_SCRIPT, CLIENT],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  assert.deepEqual(JSON.parse(out.toString()), []);
});
