// Custom tools through the SDK against a real server: the demo model calls
// the deployment's custom tool, the run stops with requires_action and
// lists the call, runs.submitToolOutputs answers it, and the run completes
// with the output in the model's context.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Herm from "../dist/esm/index.js";
import { TestServer, API_KEY } from "./helpers/server.mjs";

let server;
let herm;

before(async () => {
  server = await new TestServer({ wordDelay: "0s" }).start();
  herm = new Herm({ apiKey: API_KEY, baseURL: server.url });
});

after(async () => {
  await server?.cleanup();
});

async function waitRun(depId, runId, want) {
  for (let i = 0; i < 400; i++) {
    const r = await herm.runs.get(depId, runId);
    if (r.status === want) return r;
    if (["completed", "error", "cancelled"].includes(r.status)) assert.fail(`run ${runId} ended ${r.status}: ${JSON.stringify(r.error)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.fail(`run ${runId} never reached ${want}`);
}

test("runs.submitToolOutputs answers a run's custom tool calls", async () => {
  const lookup = {
    name: "lookup_order",
    description: "Look an order up in the shop's system.",
    input_schema: { type: "object", required: ["order_id"], properties: { order_id: { type: "string" } } },
  };
  const d = await herm.deployments.create({ customer_id: "cus_tools", name: "Custom tools", system_prompt: "You help.", custom_tools: [lookup] });
  assert.deepEqual(d.custom_tools.map((t) => t.name), ["lookup_order"]);
  await herm.deployments.waitUntilReady(d.deployment_id, { timeout: 20_000 });
  const depId = d.deployment_id;
  const m = await herm.deployments.messages.send(depId, { content: '/tool lookup_order {"order_id":"A1"}' });
  const waiting = await waitRun(depId, m.run_id, "waiting_on_human");
  assert.equal(waiting.stop_reason, "requires_action");
  assert.equal(waiting.required_action.type, "submit_tool_outputs");
  assert.equal(waiting.required_action.tool_calls.length, 1);
  const c = waiting.required_action.tool_calls[0];
  assert.equal(c.name, "lookup_order");
  assert.deepEqual(typeof c.arguments === "string" ? JSON.parse(c.arguments) : c.arguments, { order_id: "A1" });

  assert.throws(() => herm.runs.submitToolOutputs(depId, m.run_id, {}), /tool_outputs must be an array/);
  assert.throws(() => herm.runs.submitToolOutputs(depId, "", { tool_outputs: [] }), /runId must be a non-empty string/);
  await assert.rejects(herm.runs.submitToolOutputs(depId, m.run_id, { tool_outputs: [{ tool_call_id: "nope", output: "x" }] }), (e) => e.status === 400 && e.code === "validation_error" && e.message.includes(c.id));

  const answered = await herm.runs.submitToolOutputs(depId, m.run_id, { tool_outputs: [{ tool_call_id: c.id, output: "A1 shipped on Monday" }] });
  assert.equal(answered.run_id, m.run_id);
  assert.equal(answered.required_action ?? null, null);
  const done = await waitRun(depId, m.run_id, "completed");
  assert.equal(done.required_action ?? null, null);
  const thread = await herm.threads.get(depId, done.thread_id);
  assert.ok(JSON.stringify(thread.messages).includes("A1 shipped on Monday"), "the final answer does not summarise the tool output");
  await assert.rejects(herm.runs.submitToolOutputs(depId, m.run_id, { tool_outputs: [{ tool_call_id: c.id, output: "again" }] }), (e) => e.status === 409 && e.code === "conflict");
});
