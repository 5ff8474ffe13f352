// Type-checked by test/types.test.mjs against the built package (dist/esm):
// each @ts-expect-error line must be an error, or tsc fails.
import Herm, { HermError, type Deployment, type Run, type HermEvent, type Page, type Agent, type Session, type SessionWithMessages, type CamelPage, type HermSessionEvent, type UserEvent } from "../../dist/esm/index.js";

async function usage(): Promise<void> {
  const herm = new Herm({ apiKey: "k", baseURL: "http://127.0.0.1:8640" });
  const dep: Deployment = await herm.deployments.create({ customer_id: "c", name: "n", system_prompt: "s", features: { memory: false } });
  const status: "provisioning" | "ready" | "error" | "deleting" = dep.status;
  const page: Page<Run> = await herm.runs.list(dep.deployment_id, { limit: 5, status: "completed" });
  const cursor: string | null = page.next_cursor;
  for await (const run of herm.runs.list(dep.deployment_id)) {
    const n: number = run.usage.input_tokens;
  }
  for await (const ev of herm.deployments.events.stream(dep.deployment_id)) {
    const e: HermEvent = ev;
    const seq: number = e.sequence;
    const t: string = e.type;
    if (ev.type === "token") {
      const delta: string = ev.delta;
      const attempt: number = ev.attempt;
    }
    if (ev.type === "run_status") {
      const st: "queued" | "running" | "waiting_on_human" | "completed" | "error" | "cancelled" = ev.status;
    }
  }
  const sent = await herm.deployments.messages.send(dep.deployment_id, { content: "hi", thread_id: "new", mode: "queue" });
  const runId: string = sent.run_id;
  const text: string = (await herm.files.read(dep.deployment_id, { path: "a.txt" })).text();
  try {
    await herm.threads.get(dep.deployment_id, "thr_x");
  } catch (err) {
    if (err instanceof HermError) {
      const s: number = err.status;
      const c: string = err.code;
      const r: string | null = err.requestId;
    }
  }
  void [status, cursor, runId, text];

  // Agents and sessions: the hosted SDK's documented calls.
  const agent: Agent = await herm.agents.create({ name: "Support", model: "demo/demo", tools: [{ type: "agent_toolset", configs: [{ name: "write_file", permissionPolicy: { type: "always_ask" } }] }] });
  const v: number = (await herm.agents.update(agent.id, { instructions: "Be brief." })).version;
  const v1: Agent = await herm.agents.versions.get(agent.id, 1);
  const agents: CamelPage<Agent> = await herm.agents.list({ limit: 10, status: "active" });
  for await (const a of herm.agents.versions.list(agent.id, { cursor: 3 })) {
    const n: number = a.version;
  }
  const session: Session = await herm.sessions.create(agent.id, { userId: "user_42", title: "Order" });
  const sessions = await herm.sessions.list({ agentId: agent.id, userId: "user_42", limit: 20 });
  const next: string | null = sessions.nextCursor;
  const first: Session | undefined = sessions.data[0];
  const full: SessionWithMessages = await herm.sessions.get(session.id);
  const said: string = full.messages[0].content[0].text;
  await herm.sessions.send(session.id, "Where is my order?");
  const events: UserEvent[] = [{ type: "user.tool_confirmation", tool_use_id: "evt_1", result: "allow" }];
  await herm.sessions.events.send(session.id, events);
  await herm.sessions.events.send(session.id, { type: "user.message", content: [{ type: "text", text: "hi" }] });
  for await (const ev of herm.sessions.events.stream(session.id, { after: 0 })) {
    const e: HermSessionEvent = ev;
    const seq: number = e.sequence;
    if (ev.type === "session.status_idle") {
      const reason: "end_turn" | "requires_action" | "error" | "interrupted" | "max_steps" = ev.payload.stop_reason.type;
      const ids: string[] | undefined = ev.payload.stop_reason.event_ids;
    }
    if (ev.type === "agent.message") {
      const delta: boolean = ev.payload.delta;
    }
  }
  const page1 = await herm.sessions.events.list(session.id, { cursor: 10, limit: 5 });
  const nextEvents: string | null = page1.nextCursor;
  void [v, v1, agents, next, first, said, nextEvents];

  // @ts-expect-error sessions.create takes the agent id first
  await herm.sessions.create({ userId: "u" });
  // @ts-expect-error a session status is idle or running
  herm.sessions.list({ status: "done" });
  // @ts-expect-error a tool confirmation needs tool_use_id and result
  await herm.sessions.events.send(session.id, [{ type: "user.tool_confirmation" }]);
  // @ts-expect-error no such user event
  await herm.sessions.events.send(session.id, [{ type: "user.dance" }]);
  // @ts-expect-error sessions.send takes the text
  await herm.sessions.send(session.id, { content: "hi" });
  for await (const ev of herm.sessions.events.stream(session.id)) {
    // @ts-expect-error an agent.message payload has no stop_reason
    if (ev.type === "agent.message") void ev.payload.stop_reason;
  }

  // @ts-expect-error name is a string
  await herm.deployments.create({ name: 1 });
  // @ts-expect-error no such field
  await herm.deployments.create({ customer_id: "c", nme: "typo" });
  // @ts-expect-error a run status, not any string
  herm.runs.list("dep", { status: "done" });
  // @ts-expect-error mode is steer, queue, interrupt or reject
  await herm.deployments.messages.send("dep", { content: "x", mode: "later" });
  // @ts-expect-error status is not a number
  const bad: number = dep.status;
  // @ts-expect-error no such resource
  herm.nothing.list();
  void bad;
}
void usage;
