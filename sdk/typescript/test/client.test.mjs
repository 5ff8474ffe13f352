// The client against a real server: error mapping, list pagination and async
// iteration, retries with idempotency keys, and each resource's calls.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Herm, { HermError, HermConnectionError, PagePromise } from "../dist/esm/index.js";
import { TestServer, API_KEY, freePort } from "./helpers/server.mjs";

let server;
let herm;
let depId;

before(async () => {
  server = await new TestServer({ wordDelay: "0s" }).start();
  herm = new Herm({ apiKey: API_KEY, baseURL: server.url });
  const d = await herm.deployments.create({ customer_id: "cus_client", name: "Client tests", system_prompt: "You help." });
  depId = d.deployment_id;
  await herm.deployments.waitUntilReady(depId, { timeout: 20_000 });
});

after(async () => {
  await server?.cleanup();
});

async function waitRun(runId, want = ["completed"]) {
  for (let i = 0; i < 400; i++) {
    const r = await herm.runs.get(depId, runId);
    if (want.includes(r.status)) return r;
    if (["completed", "error", "cancelled"].includes(r.status)) assert.fail(`run ${runId} ended ${r.status}: ${JSON.stringify(r.error)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.fail(`run ${runId} never reached ${want}`);
}

test("configuration: env defaults and bad input", () => {
  const saved = { ...process.env };
  try {
    for (const k of ["HERM_API_KEY", "PRISM_API_KEY", "HERM_BASE_URL", "HERM_URL"]) delete process.env[k];
    assert.throws(() => new Herm(), (e) => e instanceof HermError && e.code === "missing_api_key" && /HERM_API_KEY/.test(e.message));
    process.env.PRISM_API_KEY = "prism_key";
    let h = new Herm();
    assert.equal(h.apiKey, "prism_key");
    assert.equal(h.baseURL, "http://127.0.0.1:8640");
    process.env.HERM_API_KEY = "herm_key";
    process.env.HERM_URL = "http://example.test:1";
    h = new Herm();
    assert.equal(h.apiKey, "herm_key");
    assert.equal(h.baseURL, "http://example.test:1");
    process.env.HERM_BASE_URL = "https://herm.example.test/prefix/";
    assert.equal(new Herm().baseURL, "https://herm.example.test/prefix");
    assert.equal(new Herm({ apiKey: "k", baseURL: "http://x:2" }).apiKey, "k");
    assert.throws(() => new Herm({ apiKey: "k", baseURL: "not a url" }), /not a URL/);
    assert.throws(() => new Herm({ apiKey: "k", baseURL: "ftp://x" }), /http or https/);
    assert.throws(() => new Herm({ apiKey: "k", maxRetries: -1 }), /maxRetries/);
  } finally {
    process.env = saved;
  }
  assert.throws(() => herm.deployments.get(""), (e) => e instanceof TypeError && /deploymentId must be a non-empty string/.test(e.message));
  assert.throws(() => herm.runs.get(depId, undefined), /runId must be a non-empty string \(got undefined\)/);
  assert.throws(() => herm.deployments.messages.send(depId, {}), /content must be a non-empty string/);
  assert.throws(() => herm.deployments.create(null), /deployment must be an object/);
  assert.throws(() => herm.steering.respond(depId, "str_x", {}), /decision must be a non-empty string/);
});

test("HermError carries the API's status, code, message and request id", async () => {
  await assert.rejects(herm.deployments.get("dep_doesnotexist"), (e) => {
    assert.ok(e instanceof HermError);
    assert.ok(e instanceof Error);
    assert.equal(e.name, "HermError");
    assert.equal(e.status, 404);
    assert.equal(e.code, "not_found");
    assert.match(e.message, /deployment/);
    assert.match(e.requestId, /^req_/);
    assert.equal(e.requestId, e.headers.get("x-request-id"));
    assert.deepEqual(e.body, { error: { code: "not_found", message: e.message, request_id: e.requestId } });
    return true;
  });
  const bad = new Herm({ apiKey: "wrong", baseURL: server.url });
  await assert.rejects(bad.deployments.list(), (e) => e instanceof HermError && e.status === 401 && e.code === "unauthorized");
  await assert.rejects(herm.deployments.create({ customer_id: "c", name: "n", system_prompt: "s", model: "nosuchprovider/x" }), (e) => e.status === 400 && e.code === "validation_error" && /model/.test(e.message));
  // A finished run cannot be cancelled.
  const m = await herm.deployments.messages.send(depId, { content: "hi" });
  await waitRun(m.run_id);
  await assert.rejects(herm.runs.cancel(depId, m.run_id), (e) => e.status === 409 && e.code === "conflict");
  // No server at all: a HermConnectionError (status 0) after the retries.
  const port = await freePort();
  const down = new Herm({ apiKey: API_KEY, baseURL: `http://127.0.0.1:${port}`, maxRetries: 1 });
  await assert.rejects(down.deployments.list(), (e) => e instanceof HermConnectionError && e instanceof HermError && e.status === 0 && e.code === "connection_error");
});

test("lists: a promise of {data, next_cursor} that is async-iterable across pages", async () => {
  const made = [];
  for (let i = 0; i < 4; i++) made.push((await herm.threads.create(depId, { title: `t${i}` })).thread_id);
  const p = herm.threads.list(depId, { limit: 2 });
  assert.ok(p instanceof PagePromise);
  const first = await p;
  assert.equal(first.data.length, 2);
  assert.equal(typeof first.next_cursor, "string");
  const second = await herm.threads.list(depId, { limit: 2, cursor: first.next_cursor });
  assert.notEqual(second.data[0].thread_id, first.data[0].thread_id);
  const all = [];
  for await (const t of herm.threads.list(depId, { limit: 2 })) all.push(t.thread_id);
  assert.equal(new Set(all).size, all.length, "an item came twice");
  for (const id of made) assert.ok(all.includes(id), `${id} not iterated`);
  assert.ok(all.length >= 5, "the default thread and four more");
  let pages = 0;
  for await (const page of herm.threads.list(depId, { limit: 2 }).pages()) {
    pages++;
    assert.ok(page.data.length <= 2);
  }
  assert.equal(pages, Math.ceil(all.length / 2));
  // Awaiting and iterating the same list: one first request, same items.
  const both = herm.threads.list(depId, { limit: 100 });
  const page = await both;
  const iterated = [];
  for await (const t of both) iterated.push(t.thread_id);
  assert.deepEqual(iterated, page.data.map((t) => t.thread_id));
  // Errors reach both forms.
  await assert.rejects(herm.threads.list("dep_nope"), (e) => e.code === "not_found");
  await assert.rejects(async () => {
    for await (const _ of herm.threads.list("dep_nope")) assert.fail("an item of a missing deployment");
  }, (e) => e.code === "not_found");
});

test("the event log as pages (after is the cursor) and a stream resumed with after", async () => {
  const seqs = [];
  for await (const e of herm.deployments.events.list(depId, { limit: 3 })) seqs.push(e.sequence);
  assert.ok(seqs.length > 5);
  seqs.forEach((s, i) => assert.equal(s, i + 1, "the log is contiguous from 1"));
  const types = [];
  for await (const e of herm.deployments.events.list(depId, { types: ["run_status"] })) types.push(e.type);
  assert.ok(types.length > 0 && types.every((t) => t === "run_status"));
  // A stream from evt_1 replays the log, then goes live.
  const stream = herm.deployments.events.stream(depId, { after: "evt_1" });
  const got = [];
  for await (const e of stream) {
    got.push(e.sequence);
    if (e.sequence === seqs.at(-1)) break;
  }
  assert.deepEqual(got, seqs.slice(1));
  assert.equal(stream.lastEventId, `evt_${seqs.at(-1)}`);
  assert.throws(() => herm.deployments.events.stream(depId, { after: "" }), /after must be an event id/);
  // A stream that cannot work is an error, not endless reconnection.
  await assert.rejects(async () => {
    for await (const _ of herm.deployments.events.stream("dep_nope")) assert.fail("an event");
  }, (e) => e instanceof HermError && e.status === 404);
  // A stream token opens the stream without the Authorization header (a browser's EventSource).
  const tok = await herm.deployments.events.createToken(depId);
  assert.ok(tok.token && tok.expires_in > 0);
  const ac = new AbortController();
  const res = await fetch(`${server.url}/v1/deployments/${depId}/events?access_token=${encodeURIComponent(tok.token)}`, { signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /text\/event-stream/);
  ac.abort();
  // close() ends the iteration.
  const live = herm.deployments.events.stream(depId);
  await live.connected;
  setTimeout(() => live.close(), 100);
  for await (const _ of live) assert.fail("no event was expected");
});

test("retries: a lost request is sent again with the same Idempotency-Key", async () => {
  const seen = [];
  let failNext = 1;
  const flaky = async (url, init) => {
    seen.push({ method: init.method, key: init.headers["Idempotency-Key"] });
    if (failNext-- > 0) throw new TypeError("fetch failed (simulated)");
    return fetch(url, init);
  };
  const h = new Herm({ apiKey: API_KEY, baseURL: server.url, fetch: flaky });
  const t = await h.threads.create(depId, { title: "retried" });
  assert.equal(t.title, "retried");
  assert.equal(seen.length, 2);
  assert.ok(seen[0].key && seen[0].key === seen[1].key, "both attempts carry the same key");
  // A 503 answer is retried too; a 404 is not.
  let calls = 0;
  let busyOnce = true;
  const busy = async (url, init) => {
    calls++;
    if (busyOnce) {
      busyOnce = false;
      return new Response(JSON.stringify({ error: { code: "unavailable", message: "busy", request_id: "req_x" } }), { status: 503, headers: { "retry-after": "0" } });
    }
    return fetch(url, init);
  };
  const h2 = new Herm({ apiKey: API_KEY, baseURL: server.url, fetch: busy });
  assert.equal((await h2.deployments.get(depId)).deployment_id, depId);
  assert.equal(calls, 2);
  calls = 0;
  await assert.rejects(h2.deployments.get("dep_nope"), (e) => e.code === "not_found");
  assert.equal(calls, 1);
  // maxRetries bounds them.
  let n = 0;
  const dead = async () => {
    n++;
    throw new TypeError("fetch failed (simulated)");
  };
  await assert.rejects(new Herm({ apiKey: API_KEY, baseURL: server.url, fetch: dead, maxRetries: 2 }).deployments.get(depId), HermConnectionError);
  assert.equal(n, 3);
  // The server honours the key: the same key and body give the same thread.
  const a = await herm.threads.create(depId, { title: "once" }, { idempotencyKey: "sdk-test-key-1" });
  const b = await herm.threads.create(depId, { title: "once" }, { idempotencyKey: "sdk-test-key-1" });
  assert.equal(a.thread_id, b.thread_id);
  await assert.rejects(herm.threads.create(depId, { title: "other" }, { idempotencyKey: "sdk-test-key-1" }), (e) => e.code === "conflict");
});

test("deployments, threads, runs", async () => {
  const u = await herm.deployments.update(depId, { name: "Renamed", metadata: { plan: "pro" } });
  assert.equal(u.name, "Renamed");
  assert.equal(u.metadata.plan, "pro");
  assert.ok(u.config_version >= 2);
  const found = [];
  for await (const d of herm.deployments.list({ customer_id: "cus_client" })) found.push(d.deployment_id);
  assert.deepEqual(found, [depId]);
  const thr = await herm.threads.create(depId, { title: "Campaign" });
  assert.equal((await herm.threads.update(depId, thr.thread_id, { title: "Campaign 2" })).title, "Campaign 2");
  const m = await herm.deployments.messages.send(depId, { content: "hello thread", thread_id: thr.thread_id });
  const run = await waitRun(m.run_id);
  assert.equal(run.thread_id, thr.thread_id);
  const withMessages = await herm.threads.get(depId, thr.thread_id);
  assert.deepEqual(withMessages.messages.map((x) => x.role), ["user", "agent"]);
  const runs = [];
  for await (const r of herm.runs.list(depId, { thread_id: thr.thread_id })) runs.push(r.run_id);
  assert.deepEqual(runs, [m.run_id]);
  assert.equal(await herm.threads.delete(depId, thr.thread_id), undefined);
  await assert.rejects(herm.threads.get(depId, thr.thread_id), (e) => e.status === 404);
});

test("files, memories, skills, tools, automations, secrets", async () => {
  const w = await herm.files.write(depId, { path: "notes/a.txt", content: "héllo" });
  assert.equal(w.size, Buffer.byteLength("héllo"));
  await herm.files.write(depId, { path: "notes/b.bin", content: new Uint8Array([0, 1, 2, 255]) });
  const f = await herm.files.read(depId, { path: "notes/a.txt" });
  assert.equal(f.text(), "héllo");
  assert.deepEqual([...(await herm.files.read(depId, { path: "notes/b.bin" })).bytes()], [0, 1, 2, 255]);
  assert.equal((await herm.files.read(depId, { path: "notes/a.txt", range: "bytes=0-0" })).text(), "h");
  const ls = await herm.files.list(depId, { path: "notes" });
  assert.deepEqual(ls.entries.map((e) => e.name), ["a.txt", "b.bin"]);
  await herm.files.delete(depId, { path: "notes" });
  await assert.rejects(herm.files.read(depId, { path: "notes/a.txt" }), (e) => e.status === 404);
  await assert.rejects(herm.files.list(depId, { path: "../etc" }), (e) => e.status === 400 && e.code === "validation_error");

  const mem = await herm.memories.create(depId, { content: "Prefers short answers" });
  assert.equal(mem.source, "api");
  assert.equal((await herm.memories.update(depId, mem.memory_id, { content: "Prefers very short answers" })).content, "Prefers very short answers");
  assert.equal((await herm.memories.get(depId, mem.memory_id)).memory_id, mem.memory_id);
  const ms = [];
  for await (const x of herm.memories.list(depId, { q: "short" })) ms.push(x.memory_id);
  assert.deepEqual(ms, [mem.memory_id]);
  await herm.memories.delete(depId, mem.memory_id);
  await assert.rejects(herm.memories.get(depId, mem.memory_id), (e) => e.status === 404);

  // No dream yet (the server's dreaming is off in tests): the calls' paths.
  assert.deepEqual((await herm.dreams.list(depId)).data, []);
  await assert.rejects(herm.dreams.get(depId, "drm_none"), (e) => e.status === 404);
  await assert.rejects(herm.dreams.apply(depId, "drm_none"), (e) => e.status === 404);
  await assert.rejects(herm.dreams.discard(depId, "drm_none"), (e) => e.status === 404);

  const sk = await herm.skills.add(depId, { name: "ad-copy", source: "inline", content: "---\nname: ad-copy\ndescription: Writes ad copy.\n---\nWrite short ads." });
  assert.equal(sk.description, "Writes ad copy.");
  assert.match((await herm.skills.get(depId, sk.skill_id)).content, /Write short ads/);
  const skills = await herm.skills.list(depId);
  assert.ok(skills.data.some((s) => s.skill_id === sk.skill_id));
  await assert.rejects(herm.skills.add(depId, { name: "broken", source: "inline", content: "no front matter" }), (e) => e.status === 422 && e.code === "invalid_skill");
  await herm.skills.delete(depId, sk.skill_id);

  const tools = await herm.tools.list(depId);
  assert.equal(tools.next_cursor, null);
  assert.ok(Array.isArray(tools.mcp_servers));
  const names = [];
  for await (const t of herm.tools.list(depId)) names.push(t.name);
  assert.ok(names.includes("ask_human"));
  const upd = await herm.tools.update(depId, "ask_human", { enabled: false });
  assert.equal(upd.enabled, false);
  await herm.tools.update(depId, "ask_human", { enabled: true });

  const auto = await herm.automations.create(depId, { name: "Weekly", schedule: "every Monday at 9am", instructions: "Summarise the week." });
  assert.equal((await herm.automations.update(depId, auto.automation_id, { enabled: false })).enabled, false);
  const trig = await herm.automations.trigger(depId, auto.automation_id);
  assert.match(trig.run_id, /^run_/);
  await waitRun(trig.run_id);
  const got = await herm.automations.get(depId, auto.automation_id);
  assert.ok(Array.isArray(got.recent_runs));
  assert.ok((await herm.automations.list(depId)).data.some((a) => a.automation_id === auto.automation_id));
  await herm.automations.delete(depId, auto.automation_id);

  const sec = await herm.secrets.create({ name: "META_TOKEN", value: "s3cr3t-value", allowed_hosts: ["api.example.com"] });
  assert.match(sec.secret_id, /^sec_/);
  assert.ok(!JSON.stringify(sec).includes("s3cr3t-value"));
  assert.ok((await herm.secrets.update(sec.secret_id, { value: "rotated" })).rotated_at);
  const secs = [];
  for await (const s of herm.secrets.list({ limit: 1 })) secs.push(s.secret_id);
  assert.ok(secs.includes(sec.secret_id));
  await herm.secrets.delete(sec.secret_id);
  await assert.rejects(herm.secrets.get(sec.secret_id), (e) => e.status === 404);
});

test("steering: a question from the agent answered with steering.respond", { timeout: 60_000 }, async () => {
  const stream = herm.deployments.events.stream(depId, { types: ["steering_request", "run_status"] });
  await stream.connected;
  const m = await herm.deployments.messages.send(depId, { content: '/tool ask_human {"question": "Which colour?"}', thread_id: "new" });
  let answered = false;
  for await (const e of stream) {
    if (e.run_id !== m.run_id) continue;
    if (e.type === "steering_request") {
      assert.equal(e.kind, "question");
      const pending = await herm.steering.list(depId, { status: "pending" });
      assert.ok(pending.data.some((r) => r.steering_request_id === e.steering_request_id));
      const r = await herm.steering.respond(depId, e.steering_request_id, { decision: "answer", message: "Blue" });
      assert.equal(r.status, "resolved");
      assert.equal(r.decision, "answer");
      answered = true;
      await assert.rejects(herm.steering.respond(depId, e.steering_request_id, { decision: "answer", message: "Red" }), (err) => err.code === "conflict");
    }
    if (e.type === "run_status" && ["completed", "error", "cancelled"].includes(e.status)) {
      assert.equal(e.status, "completed");
      break;
    }
  }
  assert.ok(answered, "no steering_request came");
});
