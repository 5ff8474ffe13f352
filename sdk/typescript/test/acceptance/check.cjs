// The CommonJS entry: require("herm") is the Herm class, with the named exports on it.
const Herm = require("herm");
const { HermError, HermConnectionError, PagePromise } = require("herm");

async function main() {
  if (typeof Herm !== "function" || Herm.default !== Herm || Herm.Herm !== Herm) throw new Error("require('herm') is not the Herm class");
  if (typeof HermError !== "function" || typeof HermConnectionError !== "function" || typeof PagePromise !== "function") throw new Error("named exports missing");
  const herm = new Herm({ apiKey: process.env.HERM_API_KEY, baseURL: process.env.HERM_BASE_URL });
  const d = await herm.deployments.create({ customer_id: "cus_cjs", name: "CJS", system_prompt: "Hi." });
  const page = await herm.deployments.list({ customer_id: "cus_cjs" });
  if (!page.data.some((x) => x.deployment_id === d.deployment_id)) throw new Error("created deployment not listed");
  let n = 0;
  for await (const x of herm.deployments.list({ customer_id: "cus_cjs", limit: 1 })) n += x.customer_id === "cus_cjs" ? 1 : 0;
  if (n !== 1) throw new Error(`iterated ${n} deployments`);
  try {
    await herm.deployments.get("dep_missing");
    throw new Error("no error");
  } catch (err) {
    if (!(err instanceof HermError) || err.code !== "not_found" || err.status !== 404) throw err;
  }
  await herm.deployments.delete(d.deployment_id);
  // The agents and sessions API from CommonJS.
  const agent = await herm.agents.create({ name: "CJS agent", model: "demo/demo" });
  const session = await herm.sessions.create(agent.id, { userId: "cjs_user", title: "CJS" });
  const sessions = await herm.sessions.list({ agentId: agent.id, userId: "cjs_user" });
  if (sessions.data.length !== 1 || sessions.data[0].id !== session.id || sessions.nextCursor !== null) throw new Error(`sessions ${JSON.stringify(sessions)}`);
  if ((await herm.sessions.get(session.id)).title !== "CJS") throw new Error("sessions.get");
  let agents = 0;
  for await (const a of herm.agents.list({ limit: 1 })) agents += a.id === agent.id ? 1 : 0;
  if (agents !== 1) throw new Error(`iterated the agent ${agents} times`);
  console.log(JSON.stringify({ ok: true, cjs: true }));
}
main().catch((err) => {
  console.error("FAIL:", err);
  process.exit(1);
});
