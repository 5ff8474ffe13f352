// The "Done when" for Node: the built package, packed and installed
// into a fresh project, used as `import Herm from "herm"` (and require), against
// a real server that is killed and restarted in the middle of a stream; and
// the agents and sessions script, whose connections are cut in the middle of
// a session's stream.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { TestServer, DropProxy, API_KEY } from "./helpers/server.mjs";

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
let server;
let project;

before(async () => {
  server = await new TestServer({ wordDelay: "40ms" }).start();
  // Pack the package as it would be published, and install it into a new project.
  project = mkdtempSync(join(tmpdir(), "herm-sdk-user-"));
  execFileSync(npm, ["pack", "--silent", "--pack-destination", project], { cwd: pkgDir, stdio: ["ignore", "pipe", "inherit"] });
  const tgz = readdirSync(project).find((f) => f.endsWith(".tgz"));
  assert.ok(tgz, "npm pack made no tarball");
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "herm-user", private: true, type: "module", dependencies: { herm: `file:./${tgz}` } }, null, 2));
  execFileSync(npm, ["install", "--no-audit", "--no-fund", "--offline", "--ignore-scripts"], { cwd: project, stdio: ["ignore", "pipe", "inherit"] });
  for (const f of ["app.mjs", "sessions.mjs", "check.cjs"]) copyFileSync(join(pkgDir, "test", "acceptance", f), join(project, f));
});

after(async () => {
  await server?.cleanup();
  if (project) rmSync(project, { recursive: true, force: true });
});

function runScript(file, onLine, baseURL = server.url) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, HERM_API_KEY: API_KEY, HERM_BASE_URL: baseURL };
    delete env.PRISM_API_KEY;
    delete env.HERM_URL;
    const p = spawn(process.execPath, [file], { cwd: project, env, stdio: ["ignore", "pipe", "pipe"] });
    const out = [];
    let err = "";
    p.stderr.on("data", (d) => (err += d));
    const rl = createInterface({ input: p.stdout });
    rl.on("line", (line) => {
      out.push(line);
      onLine?.(line);
    });
    // Kill a script that hangs, so that the failure shows what it printed.
    const t = setTimeout(() => {
      err += "\n(killed after 120 s)";
      p.kill("SIGKILL");
    }, 120_000);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

test("acceptance: create, wait for ready, stream across a server restart, list runs across pages", { timeout: 180_000 }, async () => {
  let restarted = null;
  const res = await runScript("app.mjs", (line) => {
    if (line === "RESTART ME") restarted = server.restart();
  });
  if (restarted) await restarted;
  assert.equal(res.code, 0, `app.mjs failed:\n${res.out.join("\n")}\n${res.err}\nserver log:\n${server.log()}`);
  assert.ok(restarted, "the script never asked for the restart");
  assert.equal(server.starts, 2, "the server was not restarted");
  const result = JSON.parse(res.out.at(-1));
  assert.equal(result.ok, true);
  assert.ok(result.reconnects >= 1, `the stream did not reconnect: ${res.out.at(-1)}`);
  assert.equal(result.runs_listed, 3);
  assert.equal(result.last_sequence - result.first_sequence + 1, result.events);
  console.log(`acceptance: ${res.out.at(-1)}`);
});

test("acceptance (agents and sessions): an agent, two sessions of one user, streamed turns resumed after a cut connection, a tool confirmation", { timeout: 180_000 }, async () => {
  // The script talks to the server through a proxy that the test cuts when asked.
  const proxy = await new DropProxy({ port: server.port }).start();
  let dropped = 0;
  let res;
  try {
    res = await runScript(
      "sessions.mjs",
      (line) => {
        if (line === "DISCONNECT ME") dropped = proxy.drop();
      },
      proxy.url,
    );
  } finally {
    await proxy.stop();
  }
  assert.equal(res.code, 0, `sessions.mjs failed:\n${res.out.join("\n")}\n${res.err}\nserver log:\n${server.log()}`);
  assert.ok(dropped > 0, "the script never asked for the disconnect, or no connection was open");
  const result = JSON.parse(res.out.at(-1));
  assert.equal(result.ok, true);
  assert.equal(result.sessions, 2);
  assert.ok(result.reconnects >= 1, `the stream did not reconnect: ${res.out.at(-1)}`);
  assert.equal(result.first_sequence, 1);
  assert.equal(result.last_sequence, result.events, "each sequence once");
  assert.equal(result.confirmed.length, 1);
  console.log(`acceptance (sessions): ${res.out.at(-1)}`);
});

test("CommonJS: require('herm') works against the server", { timeout: 60_000 }, async () => {
  const res = await runScript("check.cjs");
  assert.equal(res.code, 0, `check.cjs failed:\n${res.out.join("\n")}\n${res.err}`);
  assert.deepEqual(JSON.parse(res.out.at(-1)), { ok: true, cjs: true });
});
