// app.js is the console: a router over location.pathname and one
// function per screen. Screens build their DOM with dom.js (text only).

import { h, clear, fmtTime, badge, json } from "./dom.js";
import { Client, ApiError, savedKey, saveKey, forgetKey, qs, stream } from "./api.js";
import { RunLog, isActive } from "./run.js";

const base = "/console";
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const statusLine = document.getElementById("status");

// page is the current screen's state: its abort controller (stream,
// timers) ends when another screen replaces it.
let page = { abort: new AbortController() };

const enc = encodeURIComponent;
const depPath = (d) => "/v1/deployments/" + enc(d);

function link(path, ...children) {
  return h("a", { href: base + path, on: { click: (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    go(path);
  } } }, ...children);
}

function go(path, replace) {
  const url = base + path;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
}

function say(text) {
  statusLine.textContent = text || "";
}

function errorBox(e) {
  const msg = e instanceof ApiError ? `${e.message} (${e.code}${e.requestId ? ", request " + e.requestId : ""})` : String(e && e.message || e);
  return h("p", { class: "error", role: "alert" }, msg);
}

function client() {
  const k = savedKey();
  return k ? new Client(k) : null;
}

function title(text, ...more) {
  document.title = text + " · Herm console";
  return h("h1", {}, text, ...more);
}

function renderNav(dep) {
  clear(nav);
  if (!savedKey()) return;
  const items = [link("/deployments", "Deployments")];
  if (dep) {
    items.push(link("/deployments/" + enc(dep), "Overview"), link("/deployments/" + enc(dep) + "/files", "Files"),
      link("/deployments/" + enc(dep) + "/automations", "Automations"), link("/deployments/" + enc(dep) + "/memories", "Memories"));
  }
  items.push(h("button", { type: "button", class: "link", on: { click: () => { forgetKey(); go("/signin"); } } }, "Sign out"));
  nav.appendChild(h("ul", {}, items.map((i) => h("li", {}, i))));
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === location.pathname) a.setAttribute("aria-current", "page");
  }
}

// route shows the screen of location.pathname.
async function route() {
  page.abort.abort();
  page = { abort: new AbortController() };
  const p = location.pathname.replace(/\/+$/, "").slice(base.length) || "/";
  const parts = p.split("/").filter(Boolean).map(decodeURIComponent);
  const c = client();
  say("");
  clear(main);
  if (!c && parts[0] !== "signin") return go("/signin", true);
  const dep = parts[0] === "deployments" && parts[1] ? parts[1] : null;
  renderNav(dep);
  try {
    if (parts[0] === "signin") return signIn();
    if (parts.length === 0 || (parts[0] === "deployments" && parts.length === 1)) return await deployments(c);
    if (parts[0] === "deployments" && parts.length === 2) return await deployment(c, dep);
    if (parts[0] === "deployments" && parts[2] === "threads" && parts[3]) return await thread(c, dep, parts[3]);
    if (parts[0] === "deployments" && parts[2] === "files") return await files(c, dep);
    if (parts[0] === "deployments" && parts[2] === "automations") return await automations(c, dep);
    if (parts[0] === "deployments" && parts[2] === "memories") return await memories(c, dep);
    main.appendChild(title("Not found"));
    main.appendChild(h("p", {}, "The console has no page here. ", link("/deployments", "See the deployments.")));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      forgetKey();
      return go("/signin", true);
    }
    if (e && e.name === "AbortError") return;
    main.appendChild(errorBox(e));
  }
}

// --- sign in ---

function signIn() {
  main.appendChild(title("Sign in"));
  const key = h("input", { id: "api-key", name: "api_key", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const err = h("div", { id: "signin-error" });
  const form = h("form", { class: "card narrow", on: { submit: async (e) => {
    e.preventDefault();
    clear(err);
    const k = key.value.trim();
    if (!k) return;
    try {
      // A real call: the key must be accepted and able to read deployments.
      await new Client(k).get("/v1/deployments?limit=1");
      saveKey(k);
      go("/deployments");
    } catch (e) {
      const msg = e instanceof ApiError && e.status === 401 ? "The server did not accept that API key." :
        e instanceof ApiError && e.status === 403 ? "That API key cannot read deployments (it needs the deployments:read scope)." :
        "Could not reach the server: " + e.message;
      err.appendChild(h("p", { class: "error", role: "alert" }, msg));
      key.setAttribute("aria-invalid", "true");
      key.focus();
    }
  } } },
  h("label", { for: "api-key" }, "API key"),
  key,
  h("p", { class: "hint" }, "The key stays in this tab (session storage) and is sent only to this server. herm serve printed an admin key at its first start and saved it to admin.key in its data directory."),
  err,
  h("button", { type: "submit", class: "primary" }, "Sign in"));
  main.appendChild(form);
  key.focus();
}

// --- deployments ---

async function deployments(c) {
  main.appendChild(title("Deployments"));
  const table = h("table", { class: "list", id: "deployments" },
    h("caption", { class: "sr-only" }, "Deployments, newest first"),
    h("thead", {}, h("tr", {}, ["Name", "Customer", "Status", "Model", "Created"].map((x) => h("th", { scope: "col" }, x)))));
  const tbody = h("tbody");
  table.appendChild(tbody);
  const more = h("button", { type: "button", hidden: true }, "Load more");
  let cursor = null;
  const load = async () => {
    const r = await c.get("/v1/deployments" + qs({ limit: 50, cursor }), { signal: page.abort.signal });
    for (const d of r.data) {
      tbody.appendChild(h("tr", {},
        h("td", {}, link("/deployments/" + enc(d.deployment_id), d.name || d.deployment_id)),
        h("td", {}, d.customer_id),
        h("td", {}, badge(d.status)),
        h("td", {}, h("code", {}, d.model)),
        h("td", {}, fmtTime(d.created_at))));
    }
    cursor = r.next_cursor;
    more.hidden = !cursor;
    if (!tbody.firstChild) tbody.appendChild(h("tr", {}, h("td", { colspan: 5 }, "No deployments yet: create one below.")));
  };
  more.addEventListener("click", () => load().catch((e) => main.appendChild(errorBox(e))));
  main.appendChild(table);
  main.appendChild(more);
  main.appendChild(await createForm(c));
  await load();
}

async function createForm(c) {
  let models = [];
  try {
    models = (await c.get("/v1/models", { signal: page.abort.signal })).data || [];
  } catch {
    // the server's default model is used
  }
  const field = (id, label, input, hint) => h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("p", { class: "hint", id: id + "-hint" }, hint) : null);
  const name = h("input", { id: "dep-name", name: "name", required: true, maxlength: 200 });
  const customer = h("input", { id: "dep-customer", name: "customer_id", required: true, maxlength: 255 });
  const prompt = h("textarea", { id: "dep-prompt", name: "system_prompt", rows: 3, required: true }, "You are a helpful assistant.");
  const model = h("select", { id: "dep-model", name: "model" }, h("option", { value: "" }, "Server default"),
    models.map((m) => h("option", { value: m.id || m.model || m.name }, (m.id || m.model || m.name) + (m.demo ? " (demo)" : ""))));
  const approval = h("input", { id: "dep-approval", name: "approval", "aria-describedby": "dep-approval-hint" });
  const err = h("div");
  const form = h("form", { class: "card", id: "create-deployment", "aria-labelledby": "create-title", on: { submit: async (e) => {
    e.preventDefault();
    clear(err);
    const body = { name: name.value.trim(), customer_id: customer.value.trim(), system_prompt: prompt.value };
    if (model.value) body.model = model.value;
    const tools = {};
    for (const t of approval.value.split(",").map((s) => s.trim()).filter(Boolean)) tools[t] = { permission: "always_ask" };
    if (Object.keys(tools).length) body.tools = tools;
    try {
      const d = await c.post("/v1/deployments", body);
      go("/deployments/" + enc(d.deployment_id));
    } catch (e) {
      err.appendChild(errorBox(e));
    }
  } } },
  h("h2", { id: "create-title" }, "Create a deployment"),
  field("dep-name", "Name", name),
  field("dep-customer", "Customer ID", customer),
  field("dep-prompt", "System prompt", prompt),
  field("dep-model", "Model", model),
  field("dep-approval", "Tools that need approval", approval, "Comma-separated tool names (e.g. write_file, shell): each call waits for a human."),
  err,
  h("button", { type: "submit", class: "primary" }, "Create deployment"));
  return form;
}

// --- one deployment ---

function dl(pairs) {
  return h("dl", { class: "props" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

async function deployment(c, dep) {
  const signal = page.abort.signal;
  let d = await c.get(depPath(dep), { signal });
  const head = title(d.name || dep);
  const statusEl = h("span", {}, badge(d.status));
  main.appendChild(head);
  const config = h("section", { class: "card", "aria-labelledby": "config-title" }, h("h2", { id: "config-title" }, "Configuration"));
  const fill = () => {
    clear(statusEl).appendChild(badge(d.status));
    while (config.childNodes.length > 1) config.removeChild(config.lastChild);
    config.appendChild(dl([
      ["ID", h("code", {}, d.deployment_id)],
      ["Status", statusEl],
      d.error ? ["Error", h("span", { class: "error" }, d.error.message || d.error.code)] : null,
      ["Customer", d.customer_id],
      ["Model", h("code", {}, d.model)],
      ["Sandbox", `${d.sandbox?.type ?? "?"}${d.sandbox?.enabled === false ? " (disabled)" : ""}`],
      ["Config version", String(d.config_version)],
      ["Created", fmtTime(d.created_at)],
      ["Updated", fmtTime(d.updated_at)],
    ]));
    config.appendChild(h("h3", {}, "System prompt"));
    config.appendChild(h("pre", { class: "prompt" }, d.system_prompt ?? ""));
    config.appendChild(h("details", {}, h("summary", {}, "Features, tools and the whole object"), json(d)));
  };
  fill();
  main.appendChild(config);
  // Provisioning takes well under a second; poll until it ends.
  (async () => {
    while (d.status === "provisioning" && !signal.aborted) {
      await new Promise((r) => setTimeout(r, 300));
      try {
        d = await c.get(depPath(dep), { signal });
        fill();
        if (d.status !== "provisioning") say("Deployment is " + d.status + ".");
      } catch {
        return;
      }
    }
  })();

  const pending = h("section", { class: "card", "aria-labelledby": "pending-title" }, h("h2", { id: "pending-title" }, "Waiting for a human"));
  try {
    const sr = await c.get(depPath(dep) + "/steering_requests?status=pending", { signal });
    if (sr.data.length) {
      pending.appendChild(h("ul", {}, sr.data.map((r) => h("li", {}, r.kind === "question" ? "Question: " : "Approval of ", h("code", {}, r.tool), " — ", r.summary, " — ",
        link("/deployments/" + enc(dep) + "/threads/" + enc(r.thread_id), "answer in its thread")))));
      main.appendChild(pending);
    }
  } catch {
    // listed only when readable
  }

  const threads = h("section", { class: "card", "aria-labelledby": "threads-title" }, h("h2", { id: "threads-title" }, "Threads"));
  const t = await c.get(depPath(dep) + "/threads?limit=100", { signal });
  threads.appendChild(h("table", { class: "list", id: "threads" },
    h("thead", {}, h("tr", {}, ["Title", "Status", "Messages", "Last activity"].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, t.data.map((th) => h("tr", {},
      h("td", {}, link("/deployments/" + enc(dep) + "/threads/" + enc(th.thread_id), th.title || th.thread_id)),
      h("td", {}, badge(th.status)), h("td", {}, String(th.message_count ?? "")), h("td", {}, fmtTime(th.last_activity_at)))))));
  const newTitle = h("input", { id: "thread-title", name: "title", maxlength: 200 });
  threads.appendChild(h("form", { class: "inline", on: { submit: async (e) => {
    e.preventDefault();
    try {
      const body = newTitle.value.trim() ? { title: newTitle.value.trim() } : {};
      const th = await c.post(depPath(dep) + "/threads", body);
      go("/deployments/" + enc(dep) + "/threads/" + enc(th.thread_id));
    } catch (e) {
      threads.appendChild(errorBox(e));
    }
  } } }, h("label", { for: "thread-title" }, "New thread title"), newTitle, h("button", { type: "submit" }, "Create thread")));
  main.appendChild(threads);
}

// --- a thread and its live runs ---

const cursorKey = (dep, thr) => `herm.console.cursor.${dep}.${thr}`;

async function thread(c, dep, thr) {
  const signal = page.abort.signal;
  const [t, runs] = await Promise.all([
    c.get(depPath(dep) + "/threads/" + enc(thr), { signal }),
    c.get(depPath(dep) + "/runs" + qs({ thread_id: thr, limit: 1 }), { signal }),
  ]);
  const latest = runs.data[0] || null;
  main.appendChild(h("p", { class: "crumbs" }, link("/deployments/" + enc(dep), "Deployment"), " › thread"));
  main.appendChild(title(t.title || thr));
  const live = h("span", { class: "live", id: "stream-state" }, "connecting…");
  main.appendChild(h("p", {}, "Event stream: ", live));

  // Earlier runs: their messages. The latest run is rebuilt from its
  // events below (tokens, tools, usage), so its messages are not repeated.
  const history = h("div", { class: "history", id: "history" });
  for (const m of t.messages || []) {
    if (latest && m.run_id === latest.run_id) continue;
    history.appendChild(h("div", { class: "msg msg-" + (m.role === "user" ? "user" : "agent"), "data-message-id": m.message_id },
      h("span", { class: "who" }, m.role === "user" ? "User" : "Agent"), h("p", { class: "content" }, m.content ?? "")));
  }
  main.appendChild(history);
  const runsEl = h("div", { class: "runs", id: "runs", "aria-live": "polite" });
  main.appendChild(runsEl);
  const log = new RunLog(runsEl, {
    resolve: (id, decision, message) => c.post(depPath(dep) + "/steering_requests/" + enc(id), message ? { decision, message } : { decision }),
    cancel: (runId) => c.post(depPath(dep) + "/runs/" + enc(runId) + "/cancel"),
  });
  const remember = () => { if (log.lastId) sessionStorage.setItem(cursorKey(dep, thr), log.lastId); };

  // Rebuild the latest run from the event log (oldest first, page by page).
  if (latest) {
    let after = null;
    for (;;) {
      const pageOf = await c.get(depPath(dep) + "/events" + qs({ run_id: latest.run_id, after, limit: 1000 }), { signal });
      for (const ev of pageOf.data) log.apply(ev);
      if (!pageOf.next_cursor || !pageOf.data.length) break;
      after = pageOf.data[pageOf.data.length - 1].event_id;
    }
  }
  // Continue from the last event shown, or from the last one this tab saw.
  const saved = sessionStorage.getItem(cursorKey(dep, thr));
  const seqOf = (id) => Number(String(id || "").replace(/^evt_/, "")) || 0;
  let from = log.lastId;
  if (saved && seqOf(saved) > seqOf(from)) {
    from = saved;
    log.seq = Math.max(log.seq, seqOf(saved));
  }
  remember();

  const text = h("textarea", { id: "composer-text", name: "content", rows: 3, required: true, "aria-label": "Message" });
  const sendBtn = h("button", { type: "submit", class: "primary", id: "send", props: { disabled: true } }, "Send");
  const err = h("div");
  const form = h("form", { class: "composer", id: "composer", "aria-label": "Send a message", on: { submit: async (e) => {
    e.preventDefault();
    clear(err);
    const content = text.value;
    if (!content.trim()) return;
    sendBtn.disabled = true;
    try {
      const r = await c.post(depPath(dep) + "/messages", { content, thread_id: thr });
      text.value = "";
      say(r.steered ? "Message folded into the running run." : "Run " + r.run_id + " started.");
    } catch (e) {
      err.appendChild(errorBox(e));
    } finally {
      sendBtn.disabled = false;
    }
  } } }, h("label", { for: "composer-text" }, "Message"), text, err, sendBtn);
  main.appendChild(form);

  stream(c, depPath(dep) + "/events" + qs({ thread_id: thr }), {
    lastEventId: from,
    signal,
    onEvent: (ev) => {
      if (log.apply(ev)) remember();
    },
    onState: (s, detail) => {
      live.textContent = s === "live" ? "live" : s === "error" ? "error: " + (detail?.message || "") : "reconnecting…";
      live.setAttribute("data-state", s);
      // Sending waits for the stream, so that the run's first events are seen.
      if (s === "live") sendBtn.disabled = false;
    },
  });
  if (latest && isActive(latest.status)) say("Run " + latest.run_id + " is " + latest.status + ".");
}

// --- files ---

async function files(c, dep) {
  const signal = page.abort.signal;
  const params = new URLSearchParams(location.search);
  const dir = params.get("path") || "";
  const view = params.get("view");
  main.appendChild(title("Files"));
  const crumbs = [link("/deployments/" + enc(dep) + "/files", "/workspace")];
  let acc = "";
  for (const seg of dir.split("/").filter(Boolean)) {
    acc += seg + "/";
    crumbs.push(" / ", link("/deployments/" + enc(dep) + "/files?path=" + enc(acc), seg));
  }
  main.appendChild(h("p", { class: "crumbs" }, crumbs));
  const list = await c.get(depPath(dep) + "/files" + qs({ path: dir }), { signal });
  const prefix = list.path ?? dir;
  main.appendChild(h("table", { class: "list", id: "files" },
    h("thead", {}, h("tr", {}, ["Name", "Type", "Size", "Modified"].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, list.entries.length ? list.entries.map((e) => h("tr", {},
      h("td", {}, e.type === "directory" ?
        link("/deployments/" + enc(dep) + "/files?path=" + enc(prefix + e.name + "/"), e.name + "/") :
        link("/deployments/" + enc(dep) + "/files?path=" + enc(prefix) + "&view=" + enc(prefix + e.name), e.name)),
      h("td", {}, e.type), h("td", {}, e.type === "file" ? String(e.size) : ""), h("td", {}, fmtTime(e.modified_at)))) :
      h("tr", {}, h("td", { colspan: 4 }, "This directory is empty.")))));
  if (view) {
    const box = h("section", { class: "card", "aria-labelledby": "file-title" }, h("h2", { id: "file-title" }, view));
    try {
      const f = await c.bytes(depPath(dep) + "/files/content" + qs({ path: view }));
      let text = null;
      if (f.body.byteLength <= 1 << 20) {
        try {
          text = new TextDecoder("utf-8", { fatal: true }).decode(f.body);
        } catch {
          text = null;
        }
      }
      box.appendChild(text !== null ? h("pre", { class: "file", id: "file-content" }, text) :
        h("p", {}, `Binary or large file (${f.body.byteLength} bytes, ${f.type}); not shown.`));
    } catch (e) {
      box.appendChild(errorBox(e));
    }
    main.appendChild(box);
  }
}

// deleteButton asks once more before it acts: the first click turns it
// into "Confirm delete", the second runs action.
function deleteButton(label, action) {
  const b = h("button", { type: "button", class: "deny delete", "aria-label": label }, "Delete");
  b.addEventListener("click", () => {
    if (b.dataset.armed) return action();
    b.dataset.armed = "1";
    b.textContent = "Confirm delete";
    b.setAttribute("aria-label", "Confirm: " + label);
  });
  return b;
}

// --- automations ---

async function automations(c, dep) {
  const signal = page.abort.signal;
  main.appendChild(title("Automations"));
  const r = await c.get(depPath(dep) + "/automations?limit=100", { signal });
  const err = h("div");
  main.appendChild(h("table", { class: "list", id: "automations" },
    h("thead", {}, h("tr", {}, ["Name", "Schedule", "Enabled", "Next run", "Last run", ""].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, r.data.length ? r.data.map((a) => h("tr", {},
      h("td", {}, h("details", {}, h("summary", {}, a.name), h("p", {}, a.instructions))),
      h("td", {}, a.schedule, a.cron && a.cron !== a.schedule ? [" ", h("code", {}, a.cron)] : null, a.timezone ? " (" + a.timezone + ")" : ""),
      h("td", {}, a.enabled ? "yes" : "no"),
      h("td", {}, fmtTime(a.next_run_at)),
      h("td", {}, a.last_run_at ? [fmtTime(a.last_run_at), " ", badge(a.last_run_status)] : "—"),
      h("td", {},
        h("button", { type: "button", on: { click: async () => {
          try {
            const t = await c.post(depPath(dep) + "/automations/" + enc(a.automation_id) + "/trigger", {});
            say("Automation fired: run " + t.run_id + ".");
          } catch (e) { err.appendChild(errorBox(e)); }
        } }, "aria-label": "Run " + a.name + " now" }, "Run now"), " ",
        deleteButton("Delete " + a.name, async () => {
          try {
            await c.del(depPath(dep) + "/automations/" + enc(a.automation_id));
            route();
          } catch (e) { err.appendChild(errorBox(e)); }
        })))) :
      h("tr", {}, h("td", { colspan: 6 }, "No automations.")))));
  main.appendChild(err);
  const name = h("input", { id: "auto-name", required: true });
  const schedule = h("input", { id: "auto-schedule", required: true, placeholder: "every Monday at 9am, or 0 9 * * 1" });
  const instr = h("textarea", { id: "auto-instructions", rows: 3, required: true });
  const ferr = h("div");
  main.appendChild(h("form", { class: "card", id: "create-automation", on: { submit: async (e) => {
    e.preventDefault();
    clear(ferr);
    try {
      await c.post(depPath(dep) + "/automations", { name: name.value.trim(), schedule: schedule.value.trim(), instructions: instr.value });
      route();
    } catch (e) { ferr.appendChild(errorBox(e)); }
  } } },
  h("h2", {}, "Add an automation"),
  h("div", { class: "field" }, h("label", { for: "auto-name" }, "Name"), name),
  h("div", { class: "field" }, h("label", { for: "auto-schedule" }, "Schedule (cron or plain English, UTC)"), schedule),
  h("div", { class: "field" }, h("label", { for: "auto-instructions" }, "Instructions"), instr),
  ferr,
  h("button", { type: "submit", class: "primary" }, "Add automation")));
}

// --- memories ---

async function memories(c, dep) {
  const signal = page.abort.signal;
  main.appendChild(title("Memories"));
  const q = new URLSearchParams(location.search).get("q") || "";
  const search = h("input", { id: "mem-q", type: "search", name: "q", props: { value: q } });
  main.appendChild(h("form", { class: "inline", role: "search", on: { submit: (e) => {
    e.preventDefault();
    go("/deployments/" + enc(dep) + "/memories" + qs({ q: search.value.trim() }));
  } } }, h("label", { for: "mem-q" }, "Find memories with the words"), search, h("button", { type: "submit" }, "Search")));
  const r = await c.get(depPath(dep) + "/memories" + qs({ q, limit: 100 }), { signal });
  const err = h("div");
  main.appendChild(h("ul", { class: "memories", id: "memories" }, r.data.length ? r.data.map((m) => h("li", { "data-memory-id": m.memory_id },
    h("p", { class: "content" }, m.content),
    h("p", { class: "meta" }, "from ", m.source, " · ", fmtTime(m.updated_at || m.created_at), " "),
    deleteButton("Delete this memory", async () => {
      try {
        await c.del(depPath(dep) + "/memories/" + enc(m.memory_id));
        route();
      } catch (e) { err.appendChild(errorBox(e)); }
    }))) : h("li", {}, "No memories.")));
  main.appendChild(err);
  const content = h("textarea", { id: "mem-content", rows: 2, required: true, maxlength: 2000 });
  const ferr = h("div");
  main.appendChild(h("form", { class: "card", id: "create-memory", on: { submit: async (e) => {
    e.preventDefault();
    clear(ferr);
    try {
      await c.post(depPath(dep) + "/memories", { content: content.value });
      route();
    } catch (e) { ferr.appendChild(errorBox(e)); }
  } } },
  h("h2", {}, "Add a memory"),
  h("div", { class: "field" }, h("label", { for: "mem-content" }, "A durable fact about the customer"), content),
  ferr,
  h("button", { type: "submit", class: "primary" }, "Add memory")));
}

window.addEventListener("popstate", route);
route();
