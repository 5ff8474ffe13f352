// The acceptance script, written as a user of the hosted SDK would
// write it: only the documented `herm` package, configured from the
// environment (HERM_API_KEY, HERM_BASE_URL). It prints "RESTART ME" once the
// run is streaming; the test then kills the server and starts it again; the
// stream must carry on by itself without losing or repeating an event.
import Herm, { HermError } from "herm";

const herm = new Herm();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fail = (msg) => {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
};

// 1. Create a deployment and wait until it is ready.
const created = await herm.deployments.create({
  customer_id: "cus_acceptance",
  name: "Acme Creative Agent",
  system_prompt: "You are a creative assistant.",
});
const depId = created.deployment_id;
let dep = created;
for (let i = 0; dep.status !== "ready"; i++) {
  if (dep.status === "error" || i > 200) fail(`deployment is ${dep.status}`);
  await sleep(50);
  dep = await herm.deployments.get(depId);
}

// 2. Stream its events while sending a message.
const stream = herm.deployments.events.stream(depId);
await stream.connected;
const sent = await herm.deployments.messages.send(depId, {
  content: "Give me five ad ideas for a small bakery that sells sourdough, croissants and coffee, with a short slogan for each idea please",
});
const events = [];
let tokens = 0;
let asked = false;
for await (const event of stream) {
  events.push(event);
  if (event.type === "token" && event.run_id === sent.run_id && ++tokens === 5 && !asked) {
    asked = true;
    console.log("RESTART ME");
  }
  if (event.type === "run_status" && event.run_id === sent.run_id && ["completed", "error", "cancelled"].includes(event.status)) break;
}
if (!asked) fail("the run ended before five tokens arrived");
const last = events.at(-1);
if (last.status !== "completed") fail(`the run ended ${last.status}: ${JSON.stringify(last.error)}`);

// No event lost or repeated: the sequence grows by exactly one.
for (let i = 1; i < events.length; i++) {
  if (events[i].sequence !== events[i - 1].sequence + 1) fail(`sequence ${events[i - 1].sequence} is followed by ${events[i].sequence}`);
  if (events[i].event_id !== `evt_${events[i].sequence}`) fail(`event ${events[i].event_id} has sequence ${events[i].sequence}`);
}
// …and it is exactly what the server's event log holds for that stretch.
const logged = [];
for await (const e of herm.deployments.events.list(depId, { after: `evt_${events[0].sequence - 1}`, limit: 7 })) {
  if (e.sequence > last.sequence) break;
  logged.push(e.event_id);
}
if (logged.join() !== events.map((e) => e.event_id).join()) fail("the stream and the event log differ");
// The agent's message is what its last streamed attempt said.
const reply = events.find((e) => e.type === "message" && e.role === "agent" && e.run_id === sent.run_id);
if (!reply) fail("no agent message");
const turnTokens = events.filter((e) => e.type === "token" && e.run_id === sent.run_id && e.turn === reply.turn);
const lastAttempt = Math.max(...turnTokens.map((e) => e.attempt));
const text = turnTokens.filter((e) => e.attempt === lastAttempt).map((e) => e.delta).join("");
if (text !== reply.content) fail(`the tokens say ${JSON.stringify(text)}, the message ${JSON.stringify(reply.content)}`);

// 3. More runs (each on a new thread), then list every run across pages.
const more = [];
for (let i = 0; i < 2; i++) {
  more.push(await herm.deployments.messages.send(depId, { content: `Another idea, number ${i + 2}`, thread_id: "new" }));
}
for (const m of more) {
  for (let i = 0; ; i++) {
    const run = await herm.runs.get(depId, m.run_id);
    if (run.status === "completed") break;
    if (["error", "cancelled"].includes(run.status) || i > 600) fail(`run ${m.run_id} is ${run.status}`);
    await sleep(50);
  }
}
const first = await herm.runs.list(depId, { limit: 2 });
if (first.data.length !== 2 || !first.next_cursor) fail(`the first page of runs is ${JSON.stringify(first)}`);
const runIds = [];
for await (const run of herm.runs.list(depId, { limit: 2 })) runIds.push(run.run_id);
const want = [sent.run_id, ...more.map((m) => m.run_id)].sort();
if (runIds.slice().sort().join() !== want.join()) fail(`listed runs ${runIds} , want ${want}`);

// 4. Errors are HermErrors with the API's code.
try {
  await herm.runs.get(depId, "run_doesnotexist");
  fail("no error for a missing run");
} catch (err) {
  if (!(err instanceof HermError) || err.status !== 404 || err.code !== "not_found" || !err.requestId) fail(`unexpected error ${err}`);
}

await herm.deployments.delete(depId);
console.log(
  JSON.stringify({
    ok: true,
    deployment_id: depId,
    run_id: sent.run_id,
    events: events.length,
    first_sequence: events[0].sequence,
    last_sequence: last.sequence,
    reconnects: stream.reconnects,
    turn_abandoned: events.some((e) => e.type === "turn_abandoned"),
    runs_listed: runIds.length,
  }),
);
