#!/usr/bin/env node
// Runs the tests (node --test, one file at a time) against a real server:
// builds it from the repository root into a temp dir (unless HERM_BIN names a
// binary already built), then runs test/*.test.mjs with HERM_BIN set.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const repo = join(root, "..", "..");
let tmp = null;
let bin = process.env.HERM_BIN;
if (!bin) {
  tmp = mkdtempSync(join(tmpdir(), "herm-sdk-bin-"));
  bin = join(tmp, "herm");
  console.log(`test: go build -o ${bin} ./cmd/herm`);
  const b = spawnSync("go", ["build", "-o", bin, "./cmd/herm"], { cwd: repo, stdio: "inherit" });
  if (b.status !== 0) {
    console.error("test: building the server failed");
    process.exit(1);
  }
}
const files = readdirSync(join(root, "test"))
  .filter((f) => f.endsWith(".test.mjs"))
  .sort()
  .map((f) => join("test", f));
const only = process.argv.slice(2);
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=1", ...(only.length ? only : files)], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, HERM_BIN: bin },
});
if (tmp) rmSync(tmp, { recursive: true, force: true });
process.exit(r.status ?? 1);
