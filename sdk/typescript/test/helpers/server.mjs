// Starts a real `herm serve` for the tests: the binary named by HERM_BIN
// (scripts/test.mjs builds it from the repository), on a temp data dir and a
// free port, with a known admin key, no sandbox (no root needed) and the
// offline demo model.
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const API_KEY = "herm_test_admin_key_0123456789";

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export class TestServer {
  constructor({ wordDelay = "20ms" } = {}) {
    const bin = process.env.HERM_BIN;
    if (!bin) throw new Error("HERM_BIN is not set: run the tests with `npm test` (scripts/test.mjs builds the server)");
    this.bin = bin;
    this.wordDelay = wordDelay;
    this.dir = mkdtempSync(join(tmpdir(), "herm-sdk-test-"));
    this.logPath = join(this.dir, "server.log");
    this.proc = null;
    this.starts = 0;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    this.port ??= await freePort();
    const env = { ...process.env, HERM_API_KEY: API_KEY, HERM_DEMO_WORD_DELAY: this.wordDelay, HERM_LOG_FORMAT: "text" };
    for (const k of ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "HERM_DATABASE_URL", "HERM_CONFIG", "HERM_DEFAULT_MODEL", "HERM_ADDR", "HERM_DATA_DIR", "HERM_SANDBOX"]) delete env[k];
    const log = openSync(this.logPath, "a");
    this.proc = spawn(this.bin, ["serve", "--addr", `127.0.0.1:${this.port}`, "--data-dir", join(this.dir, "data"), "--sandbox", "none"], { env, stdio: ["ignore", log, log] });
    closeSync(log);
    this.starts++;
    const proc = this.proc;
    let exited = null;
    proc.once("exit", (code, sig) => (exited = `exit ${code ?? sig}`));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited) throw new Error(`herm serve ${exited} at start:\n${this.log()}`);
      try {
        const res = await fetch(`${this.url}/healthz`);
        if (res.ok) return this;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`herm serve did not answer /healthz within 30 s:\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILLs the server (a crash) and waits for it to be gone. */
  async kill() {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await gone;
  }

  /** Kills the server and starts it again on the same data dir and port. */
  async restart() {
    await this.kill();
    await this.start();
  }

  async stop() {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
      await gone;
      clearTimeout(t);
    }
  }

  log() {
    try {
      return readFileSync(this.logPath, "utf8").split("\n").slice(-40).join("\n");
    } catch {
      return "(no log)";
    }
  }

  async cleanup() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A TCP proxy in front of a server: `drop()` cuts every open connection (both
 * ways) at once, as a network failure would, while the server stays up.
 */
export class DropProxy {
  constructor(target) {
    this.target = target; // { host, port }
    this.sockets = new Set();
    this.drops = 0;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    const { createConnection } = await import("node:net");
    this.server = createServer((client) => {
      const upstream = createConnection({ host: this.target.host ?? "127.0.0.1", port: this.target.port });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {});
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", resolve);
    });
    this.port = this.server.address().port;
    return this;
  }

  /** Cuts every open connection; returns how many there were. */
  drop() {
    const n = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    this.drops++;
    return n;
  }

  async stop() {
    this.drop();
    await new Promise((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
