// Agents, sessions and session events (the newer API generation) against a
// real server: each method's call, camelCase pages ({data, nextCursor}) and
// their async iteration, user events, the session stream (resumed by
// sequence after a dropped connection, each event once) and a tool
// confirmation round trip with the demo model.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Herm, { HermError, PagePromise, SessionEventStream } from "../dist/esm/index.js";
import { TestServer, DropProxy, API_KEY } from "./helpers/server.mjs";

let server;
let herm;

before(async () => {
  server = await new TestServer({ wordDelay: "10ms" }).start();
  herm = new Herm({ apiKey: API_KEY, baseURL: server.url });
});

after(async () => {
  await server?.cleanup();
});

const demoAgent = { name: "Support", model: "demo/demo", instructions: "Help the customer." };

/** Reads a stream until a session.status_idle (returned last) and checks the sequence grows by one. */
async function untilIdle(stream, { from } = {}) {
  const got = [];
  for await (const e of stream) {
    if (got.length > 0) assert.equal(e.sequence, got.at(-1).sequence + 1, `sequence ${got.at(-1).sequence} followed by ${e.sequence}`);
    else if (from !== undefined) assert.equal(e.sequence, from + 1, "the stream did not start right after `after`");
    got.push(e);
    if (e.type === "session.status_idle") return got;
  }
  assert.fail(`the stream ended before session.status_idle: ${got.map((e) => e.type)}`);
}

/** Every event of a session, through the list's pages. */
async function allEvents(sessionId, params = {}) {
  const out = [];
  for await (const e of herm.sessions.events.list(sessionId, params)) out.push(e);
  return out;
}

test("agents: create, get, list across pages, update makes versions, versions.list/get, archive", async () => {
  const a = await herm.agents.create({ ...demoAgent, metadata: { team: "a" } });
  assert.match(a.id, /^agt_/);
  assert.equal(a.version, 1);
  assert.equal(a.status, "active");
  assert.equal(a.model, "demo/demo");
  assert.deepEqual(a.metadata, { team: "a" });
  assert.equal((await herm.agents.get(a.id)).name, "Support");

  const more = [];
  for (let i = 0; i < 2; i++) more.push((await herm.agents.create({ ...demoAgent, name: `Agent ${i}` })).id);
  const p = herm.agents.list({ limit: 2 });
  assert.ok(p instanceof PagePromise);
  const first = await p;
  assert.equal(first.data.length, 2);
  assert.equal(typeof first.nextCursor, "string", "a camelCase nextCursor");
  assert.equal(first.next_cursor, undefined);
  const second = await herm.agents.list({ limit: 2, cursor: first.nextCursor });
  assert.ok(!second.data.some((x) => first.data.some((y) => y.id === x.id)), "pages overlap");
  const ids = [];
  for await (const x of herm.agents.list({ limit: 1 })) ids.push(x.id);
  assert.equal(new Set(ids).size, ids.length, "an agent came twice");
  for (const id of [a.id, ...more]) assert.ok(ids.includes(id), `${id} not iterated`);
  let pages = 0;
  for await (const page of herm.agents.list({ limit: 2 }).pages()) {
    pages++;
    assert.ok(page.data.length <= 2);
  }
  assert.equal(pages, Math.ceil(ids.length / 2));

  // Every update is a version; the old ones stay readable.
  const u = await herm.agents.update(a.id, { instructions: "Version two.", metadata: { tier: "gold" } });
  assert.equal(u.version, 2);
  assert.deepEqual(u.metadata, { team: "a", tier: "gold" });
  await herm.agents.update(a.id, { name: "Support 3" });
  const v1 = await herm.agents.versions.get(a.id, 1);
  assert.equal(v1.version, 1);
  assert.equal(v1.instructions, "Help the customer.");
  assert.equal((await herm.agents.versions.get(a.id, 2)).instructions, "Version two.");
  const vpage = await herm.agents.versions.list(a.id, { limit: 2 });
  assert.deepEqual(vpage.data.map((v) => v.version), [3, 2]);
  assert.equal(vpage.nextCursor, "2");
  assert.deepEqual((await herm.agents.versions.list(a.id, { cursor: 2 })).data.map((v) => v.version), [1], "a numeric cursor");
  const versions = [];
  for await (const v of herm.agents.versions.list(a.id, { limit: 1 })) versions.push(v.version);
  assert.deepEqual(versions, [3, 2, 1]);
  await assert.rejects(herm.agents.versions.get(a.id, 9), (e) => e instanceof HermError && e.status === 404);

  const archived = await herm.agents.archive(a.id);
  assert.equal(archived.status, "archived");
  assert.ok(archived.archivedAt);
  await assert.rejects(herm.agents.archive(a.id), (e) => e.status === 409 && e.code === "conflict");
  await assert.rejects(herm.agents.update(a.id, { name: "x" }), (e) => e.status === 409);
  await assert.rejects(herm.sessions.create(a.id, { userId: "u" }), (e) => e.status === 409);
  const archivedIds = [];
  for await (const x of herm.agents.list({ status: "archived" })) archivedIds.push(x.id);
  assert.deepEqual(archivedIds, [a.id]);
  await assert.rejects(herm.agents.get("agt_nope"), (e) => e instanceof HermError && e.status === 404 && e.code === "not_found");
  await assert.rejects(herm.agents.create({ name: "No model" }), (e) => e.status === 400 && e.code === "validation_error");
});

test("sessions: create per userId, get with messages, list filters and pages, update, archive, delete", async () => {
  const ag = await herm.agents.create(demoAgent);
  const s1 = await herm.sessions.create(ag.id, { userId: "alice", title: "First", metadata: { plan: "pro" } });
  assert.match(s1.id, /^sesn_/);
  assert.equal(s1.agentId, ag.id);
  assert.equal(s1.agentVersion, 1);
  assert.equal(s1.userId, "alice");
  assert.equal(s1.title, "First");
  assert.equal(s1.status, "idle");
  assert.deepEqual(s1.metadata, { plan: "pro" });
  const s2 = await herm.sessions.create(ag.id, { userId: "alice", title: "Second" });
  const bob = await herm.sessions.create(ag.id, { userId: "bob" });
  const anon = await herm.sessions.create(ag.id);
  assert.equal(anon.userId, null);

  // The hosted SDK's documented list: {data, nextCursor}.
  const page = await herm.sessions.list({ agentId: ag.id, userId: "alice", limit: 1 });
  assert.equal(page.data.length, 1);
  assert.equal(typeof page.nextCursor, "string");
  const rest = await herm.sessions.list({ agentId: ag.id, userId: "alice", limit: 1, cursor: page.nextCursor });
  assert.equal(rest.nextCursor, null);
  assert.deepEqual([...page.data, ...rest.data].map((s) => s.id).sort(), [s1.id, s2.id].sort());
  const alices = [];
  for await (const s of herm.sessions.list({ agentId: ag.id, userId: "alice", limit: 1 })) alices.push(s.id);
  assert.deepEqual(alices.sort(), [s1.id, s2.id].sort());
  const all = [];
  for await (const s of herm.sessions.list({ agentId: ag.id })) all.push(s.id);
  assert.deepEqual(all.sort(), [s1.id, s2.id, bob.id, anon.id].sort());
  assert.deepEqual((await herm.sessions.list({ agentId: ag.id, status: "running" })).data, []);

  const got = await herm.sessions.get(s1.id);
  assert.equal(got.id, s1.id);
  assert.deepEqual(got.messages, []);

  const u = await herm.sessions.update(s1.id, { title: "Renamed", metadata: { plan: null, seat: "3" } });
  assert.equal(u.title, "Renamed");
  assert.deepEqual(u.metadata, { seat: "3" });

  const arch = await herm.sessions.archive(s2.id);
  assert.ok(arch.archivedAt);
  await assert.rejects(herm.sessions.archive(s2.id), (e) => e.status === 409);
  const active = (await herm.sessions.list({ agentId: ag.id, userId: "alice" })).data.map((s) => s.id);
  assert.deepEqual(active, [s1.id], "an archived session is hidden by default");
  assert.deepEqual((await herm.sessions.list({ agentId: ag.id, userId: "alice", archived: true })).data.map((s) => s.id), [s2.id]);
  assert.equal((await herm.sessions.list({ agentId: ag.id, userId: "alice", archived: "any" })).data.length, 2);

  assert.equal(await herm.sessions.delete(bob.id), undefined);
  await assert.rejects(herm.sessions.get(bob.id), (e) => e instanceof HermError && e.status === 404 && e.code === "not_found");
  await assert.rejects(herm.sessions.list({ status: "sleeping" }), (e) => e.status === 400 && e.code === "validation_error");
});

test("session events: sessions.send and events.send, events.list by sequence, a stream to session.status_idle", async () => {
  const ag = await herm.agents.create(demoAgent);
  const s = await herm.sessions.create(ag.id, { userId: "carol" });
  const stream = herm.sessions.events.stream(s.id);
  assert.ok(stream instanceof SessionEventStream);
  await stream.connected;
  const sent = await herm.sessions.send(s.id, "hello from the SDK");
  assert.equal(sent.id, s.id);
  const turn = await untilIdle(stream, { from: 0 });
  assert.equal(turn[0].type, "user.message");
  assert.deepEqual(turn[0].payload.content, [{ type: "text", text: "hello from the SDK" }]);
  assert.equal(turn.at(-1).payload.stop_reason.type, "end_turn");
  for (const e of turn) {
    assert.equal(e.sessionId, s.id);
    assert.equal(e.type, e.payload.type);
    assert.match(e.id, /^evt_/);
  }
  const whole = turn.findLast((e) => e.type === "agent.message" && !e.payload.delta);
  const deltas = turn.filter((e) => e.type === "agent.message" && e.payload.delta).map((e) => e.payload.content[0].text).join("");
  assert.equal(deltas, whole.payload.content[0].text, "the deltas add up to the message");
  assert.equal(stream.lastSequence, turn.at(-1).sequence);
  assert.equal(stream.lastEventId, String(turn.at(-1).sequence));

  // A second turn with events.send (one event, or an array, or {events}), streamed from `after`.
  const s2 = herm.sessions.events.stream(s.id, { after: stream.lastSequence });
  await herm.sessions.events.send(s.id, { type: "user.message", content: [{ type: "text", text: "second" }] });
  const turn2 = await untilIdle(s2, { from: stream.lastSequence });
  assert.equal(turn2[0].payload.content[0].text, "second");
  await assert.rejects(herm.sessions.events.send(s.id, { events: [{ type: "user.steer", message: "faster" }] }), (e) => e.status === 409, "steer while idle");

  // The list: oldest first, pages of `limit`, cursor = a sequence (a number or nextCursor).
  const listed = await allEvents(s.id, { limit: 7 });
  assert.deepEqual(listed.map((e) => e.sequence), [...turn, ...turn2].map((e) => e.sequence));
  assert.deepEqual(listed.map((e) => e.id), [...turn, ...turn2].map((e) => e.id));
  const p1 = await herm.sessions.events.list(s.id, { limit: 3 });
  assert.deepEqual(p1.data.map((e) => e.sequence), [1, 2, 3]);
  assert.equal(p1.nextCursor, "3");
  assert.deepEqual((await herm.sessions.events.list(s.id, { cursor: p1.nextCursor, limit: 2 })).data.map((e) => e.sequence), [4, 5]);
  assert.deepEqual((await herm.sessions.events.list(s.id, { after: 10, limit: 1 })).data.map((e) => e.sequence), [11]);
  const tail = await allEvents(s.id, { cursor: turn.at(-1).sequence });
  assert.deepEqual(tail.map((e) => e.sequence), turn2.map((e) => e.sequence));
  await assert.rejects(herm.sessions.events.list(s.id, { cursor: 100000 }), (e) => e.status === 400);

  // after: 0 replays the whole history, then goes live.
  const replay = herm.sessions.events.stream(s.id, { after: 0 });
  const seen = [];
  for await (const e of replay) {
    seen.push(e.sequence);
    if (e.sequence === listed.at(-1).sequence) break;
  }
  assert.deepEqual(seen, listed.map((e) => e.sequence));

  // History.
  const full = await herm.sessions.get(s.id);
  assert.deepEqual(full.messages.map((m) => m.role), ["user", "agent", "user", "agent"]);
  assert.equal(full.messages[0].content[0].text, "hello from the SDK");

  // close() ends a live stream; a stream of a missing session is an error, not endless reconnection.
  const live = herm.sessions.events.stream(s.id);
  await live.connected;
  setTimeout(() => live.close(), 100);
  for await (const _ of live) assert.fail("no event was expected");
  await assert.rejects(async () => {
    for await (const _ of herm.sessions.events.stream("sesn_nope")) assert.fail("an event");
  }, (e) => e instanceof HermError && e.status === 404);
});

test("session stream: a dropped connection resumes after the last sequence, each event once", { timeout: 60_000 }, async () => {
  const proxy = await new DropProxy({ port: server.port }).start();
  try {
    const streamHeaders = [];
    const watching = async (url, init) => {
      if (String(url).includes("/events/stream")) streamHeaders.push(init.headers["Last-Event-ID"] ?? null);
      return fetch(url, init);
    };
    const h = new Herm({ apiKey: API_KEY, baseURL: proxy.url, fetch: watching });
    const ag = await h.agents.create(demoAgent);
    const s = await h.sessions.create(ag.id, { userId: "dave" });
    const got = [];
    const reconnects = [];
    const stream = h.sessions.events.stream(s.id, {
      reconnectDelay: 50,
      onReconnect: (info) => reconnects.push({ from: info.lastEventId, lastYielded: String(got.at(-1)?.sequence) }),
    });
    await stream.connected;
    await h.sessions.send(s.id, "Please write a long answer with many words so that the stream is cut in the middle of it");
    for await (const e of stream) {
      got.push(e);
      if (got.length === 5 || got.length === 20) assert.ok(proxy.drop() > 0, "no connection to drop");
      if (e.type === "session.status_idle") break;
    }
    assert.equal(stream.reconnects, 2);
    assert.equal(reconnects.length, 2);
    for (const r of reconnects) assert.equal(r.from, r.lastYielded, "a reconnection resumes from the last sequence yielded");
    assert.deepEqual(streamHeaders, [null, ...reconnects.map((r) => r.from)], "Last-Event-ID is that sequence");
    got.forEach((e, i) => assert.equal(e.sequence, i + 1, "each sequence once, in order"));
    const listed = await allEvents(s.id);
    assert.deepEqual(got.map((e) => e.id), listed.map((e) => e.id));
    assert.equal(got.at(-1).payload.stop_reason.type, "end_turn");
  } finally {
    await proxy.stop();
  }
});

test("session stream: a connection that fails mid-body (reset) resumes too", { timeout: 60_000 }, async () => {
  // The body of the first stream connection errors (as a reset connection does) after a few chunks.
  let streams = 0;
  const resetting = async (url, init) => {
    const res = await fetch(url, init);
    if (!String(url).includes("/events/stream") || streams++ > 0) return res;
    const reader = res.body.getReader();
    let chunks = 0;
    const body = new ReadableStream({
      async pull(controller) {
        if (++chunks > 4) {
          reader.cancel().catch(() => {});
          controller.error(new TypeError("terminated (simulated reset)"));
          return;
        }
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
  const h = new Herm({ apiKey: API_KEY, baseURL: server.url, fetch: resetting });
  const ag = await h.agents.create(demoAgent);
  const s = await h.sessions.create(ag.id);
  const errors = [];
  const stream = h.sessions.events.stream(s.id, { reconnectDelay: 20, onReconnect: (info) => errors.push(String(info.error)) });
  await stream.connected;
  await h.sessions.send(s.id, "one two three four five six seven eight nine ten");
  const got = await untilIdle(stream, { from: 0 });
  assert.equal(stream.reconnects, 1);
  assert.match(errors[0], /simulated reset/);
  got.forEach((e, i) => assert.equal(e.sequence, i + 1, "each sequence once, in order"));
  assert.deepEqual(got.map((e) => e.id), (await allEvents(s.id)).map((e) => e.id));
});

test("a tool confirmation round trip: requires_action with event_ids, user.tool_confirmation allow, end_turn", { timeout: 60_000 }, async () => {
  const ag = await herm.agents.create({
    ...demoAgent,
    name: "Careful",
    tools: [{ type: "agent_toolset", configs: [{ name: "write_file", permissionPolicy: { type: "always_ask" } }] }],
  });
  assert.equal(ag.tools[0].configs[0].permissionPolicy.type, "always_ask");
  const s = await herm.sessions.create(ag.id, { userId: "erin" });
  const stream = herm.sessions.events.stream(s.id, { after: 0 });
  await herm.sessions.send(s.id, '/tool write_file {"path":"a.txt","content":"x"}');
  const first = await untilIdle(stream, { from: 0 });
  const idle = first.at(-1);
  assert.equal(idle.payload.stop_reason.type, "requires_action");
  const ids = idle.payload.stop_reason.event_ids;
  assert.equal(ids.length, 1);
  const use = first.find((e) => e.id === ids[0]);
  assert.equal(use?.type, "agent.tool_use", "event_ids name the tool use");
  assert.equal(use.payload.name, "write_file");
  assert.deepEqual(use.payload.input, { path: "a.txt", content: "x" });
  assert.equal((await herm.sessions.get(s.id)).status, "idle");
  await assert.rejects(herm.sessions.send(s.id, "again"), (e) => e.status === 409, "a message while waiting");

  // Leaving the loop closed the stream: a new one resumes right after the idle event.
  const resumed = herm.sessions.events.stream(s.id, { after: stream.lastSequence });
  await herm.sessions.events.send(s.id, [{ type: "user.tool_confirmation", tool_use_id: ids[0], result: "allow" }]);
  const rest = await untilIdle(resumed, { from: idle.sequence });
  assert.equal(rest.at(-1).payload.stop_reason.type, "end_turn");
  const conf = rest.find((e) => e.type === "user.tool_confirmation");
  assert.deepEqual(conf?.payload, { type: "user.tool_confirmation", tool_use_id: ids[0], result: "allow" });
  const result = rest.find((e) => e.type === "agent.tool_result");
  assert.equal(result?.payload.tool_use_id, ids[0]);
  assert.equal(result.payload.is_error, false);
  await assert.rejects(herm.sessions.events.send(s.id, [{ type: "user.tool_confirmation", tool_use_id: ids[0], result: "allow" }]), (e) => e.status === 409, "confirming twice");
});

test("a session stream token opens the stream without the Authorization header", async () => {
  const agent = await herm.agents.create(demoAgent);
  const session = await herm.sessions.create(agent.id, {});
  const tok = await herm.sessions.events.createToken(session.id);
  assert.equal(tok.sessionId, session.id);
  assert.match(tok.token, /^hst_/);
  const res = await fetch(tok.url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  await res.body.cancel();
});

test("argument errors are TypeErrors before any request", () => {
  assert.throws(() => herm.agents.get(""), (e) => e instanceof TypeError && /agentId must be a non-empty string/.test(e.message));
  assert.throws(() => herm.agents.create(null), /agent must be an object/);
  assert.throws(() => herm.agents.update("agt_x", undefined), /patch must be an object/);
  assert.throws(() => herm.agents.versions.get("agt_x", 0), /version must be an integer ≥ 1/);
  assert.throws(() => herm.agents.versions.list("agt_x", { cursor: -1 }), /cursor must be an integer ≥ 0/);
  assert.throws(() => herm.sessions.create(undefined, {}), /agentId must be a non-empty string \(got undefined\)/);
  assert.throws(() => herm.sessions.get(""), /sessionId must be a non-empty string/);
  assert.throws(() => herm.sessions.send("sesn_x", ""), /text must be a non-empty string/);
  assert.throws(() => herm.sessions.events.send("sesn_x", [{}]), /events\[0\]\.type must be a non-empty string/);
  assert.throws(() => herm.sessions.events.send("sesn_x", "hi"), /event must be an object/);
  assert.throws(() => herm.sessions.events.send("sesn_x", { events: "x" }), /events must be an array/);
  assert.throws(() => herm.sessions.events.stream("sesn_x", { after: -1 }), /after must be a sequence number/);
  assert.throws(() => herm.sessions.events.stream("sesn_x", { after: "evt_3" }), /after must be a sequence number/);
  assert.throws(() => herm.sessions.events.list("sesn_x", { cursor: 1.5 }), /cursor must be an integer/);
});
