// Type-checked by test/types.test.mjs against the built package (dist/esm):
// each @ts-expect-error line must be an error, or tsc fails.
import Herm, { HermError, type Deployment, type Run, type HermEvent, type Page } from "../../dist/esm/index.js";

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
