// The agents and sessions acceptance script, written as a user of the hosted
// SDK would write it: only the documented `herm` package, configured from
// the environment (HERM_API_KEY, HERM_BASE_URL). It prints "DISCONNECT ME"
// while a turn streams; the test then cuts every connection (a proxy sits
// between the script and the server); the stream must resume by itself after
// the last sequence it yielded, each event exactly once.
import Herm, { HermError } from "herm";

const herm = new Herm();
const fail = (msg) => {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
};
const text = (e) => e.payload.content.map((b) => b.text).join("");

// 1. An agent whose write_file tool asks before it runs.
const agent = await herm.agents.create({
  name: "Acme Support",
  model: "demo/demo",
  instructions: "You help Acme's customers.",
  tools: [{ type: "agent_toolset", configs: [{ name: "write_file", permissionPolicy: { type: "always_ask" } }] }],
});
if (agent.version !== 1 || agent.status !== "active") fail(`agent ${JSON.stringify(agent)}`);

// 2. Two sessions of one end user, listed the documented way.
const first = await herm.sessions.create(agent.id, { userId: "user_42", title: "Where is my order?" });
const second = await herm.sessions.create(agent.id, { userId: "user_42", title: "Returns" });
const page = await herm.sessions.list({ agentId: agent.id, userId: "user_42", limit: 1 });
if (page.data.length !== 1 || typeof page.nextCursor !== "string") fail(`the first page of sessions is ${JSON.stringify(page)}`);
const listed = [];
for await (const s of herm.sessions.list({ agentId: agent.id, userId: "user_42", limit: 1 })) listed.push(s.id);
if (listed.slice().sort().join() !== [first.id, second.id].sort().join()) fail(`listed sessions ${listed}`);
const got = await herm.sessions.get(first.id);
if (got.userId !== "user_42" || got.title !== "Where is my order?" || got.agentVersion !== 1 || got.messages.length !== 0) fail(`session ${JSON.stringify(got)}`);

// 3. A message, streamed to session.status_idle, with the connection cut in the middle.
const stream = herm.sessions.events.stream(first.id);
await stream.connected;
await herm.sessions.send(first.id, "Hello, I ordered a blue teapot and two cups last week and I would like to know when they will arrive please");
const events = [];
let deltas = 0;
let asked = false;
for await (const event of stream) {
  events.push(event);
  if (event.type === "agent.message" && event.payload.delta && ++deltas === 5 && !asked) {
    asked = true;
    console.log("DISCONNECT ME");
  }
  if (event.type === "session.status_idle") break;
}
if (!asked) fail("the turn ended before five deltas arrived");
const idle = events.at(-1);
if (idle.payload.stop_reason.type !== "end_turn") fail(`the turn stopped with ${JSON.stringify(idle.payload.stop_reason)}`);
// Each sequence exactly once, from 1, and what the session's event list holds.
events.forEach((e, i) => {
  if (e.sequence !== i + 1) fail(`event ${i} has sequence ${e.sequence}`);
});
const logged = [];
for await (const e of herm.sessions.events.list(first.id, { limit: 7 })) logged.push(e.id);
if (logged.join() !== events.map((e) => e.id).join()) fail("the stream and the event list differ");
const whole = events.findLast((e) => e.type === "agent.message" && !e.payload.delta);
const streamed = events.filter((e) => e.type === "agent.message" && e.payload.delta).map(text).join("");
if (!whole || streamed !== text(whole)) fail(`the deltas say ${JSON.stringify(streamed)}, the message ${JSON.stringify(whole && text(whole))}`);

// The second session of the same user: a stream from the start (after: 0).
const other = herm.sessions.events.stream(second.id, { after: 0 });
await herm.sessions.send(second.id, "Can I return a cup?");
let otherIdle = null;
for await (const event of other) {
  if (event.type === "session.status_idle") {
    otherIdle = event;
    break;
  }
}
if (otherIdle?.payload.stop_reason.type !== "end_turn") fail(`the second session stopped with ${JSON.stringify(otherIdle)}`);

// 4. A tool use that waits for confirmation: allow it, then the turn ends.
const confirm = herm.sessions.events.stream(first.id, { after: stream.lastSequence });
await herm.sessions.send(first.id, '/tool write_file {"path":"a.txt","content":"x"}');
const turn = [];
let waitedFor = null;
for await (const event of confirm) {
  turn.push(event);
  if (event.type !== "session.status_idle") continue;
  const reason = event.payload.stop_reason;
  if (reason.type === "requires_action" && !waitedFor) {
    waitedFor = reason.event_ids;
    for (const id of reason.event_ids) {
      const use = turn.find((e) => e.id === id);
      if (use?.type !== "agent.tool_use" || use.payload.name !== "write_file") fail(`event_ids name ${JSON.stringify(use)}`);
    }
    await herm.sessions.events.send(first.id, reason.event_ids.map((id) => ({ type: "user.tool_confirmation", tool_use_id: id, result: "allow" })));
    continue;
  }
  if (reason.type !== "end_turn") fail(`after the confirmation the turn stopped with ${JSON.stringify(reason)}`);
  break;
}
if (!waitedFor || waitedFor.length !== 1) fail(`no requires_action with one event id: ${JSON.stringify(waitedFor)}`);
const confirmation = turn.find((e) => e.type === "user.tool_confirmation");
const result = turn.find((e) => e.type === "agent.tool_result");
if (confirmation?.payload.result !== "allow" || confirmation.payload.tool_use_id !== waitedFor[0]) fail(`confirmation ${JSON.stringify(confirmation)}`);
if (!result || result.payload.tool_use_id !== waitedFor[0] || result.payload.is_error) fail(`tool result ${JSON.stringify(result)}`);
for (let i = 1; i < turn.length; i++) if (turn[i].sequence !== turn[i - 1].sequence + 1) fail(`sequence ${turn[i - 1].sequence} is followed by ${turn[i].sequence}`);

// 5. Errors are HermErrors with the API's code.
try {
  await herm.sessions.get("sesn_doesnotexist");
  fail("no error for a missing session");
} catch (err) {
  if (!(err instanceof HermError) || err.status !== 404 || err.code !== "not_found" || !err.requestId) fail(`unexpected error ${err}`);
}

await herm.sessions.delete(second.id);
await herm.agents.archive(agent.id);
console.log(
  JSON.stringify({
    ok: true,
    agent_id: agent.id,
    sessions: listed.length,
    events: events.length,
    first_sequence: events[0].sequence,
    last_sequence: idle.sequence,
    reconnects: stream.reconnects,
    confirmed: waitedFor,
    tool_result: text(result),
  }),
);
