// run.js shows runs as their events arrive: the user's message, the
// agent's text token by token, tool calls and results (folded), steering
// requests with buttons, usage and status. It applies each event once: an
// event whose sequence it has already applied is dropped, so a replay that
// overlaps what was shown repeats nothing.

import { h, badge, clear } from "./dom.js";

const active = new Set(["queued", "running", "waiting_on_human"]);

export function isActive(status) {
  return active.has(status);
}

// Thread holds the runs shown for one thread, in the order they started.
export class RunLog {
  // el: the container; opts.resolve(request, decision, message) answers a
  // steering request and returns the resolved request; opts.cancel(run)
  // asks for a run's cancellation.
  constructor(el, opts) {
    this.el = el;
    this.opts = opts;
    this.runs = new Map();
    this.seq = 0; // the highest sequence applied
    this.lastId = "";
  }

  run(id) {
    let r = this.runs.get(id);
    if (!r) {
      r = new RunView(id, this.opts);
      this.runs.set(id, r);
      this.el.appendChild(r.el);
    }
    return r;
  }

  // apply shows one event payload; it returns false when the event was
  // already applied.
  apply(ev) {
    if (typeof ev.sequence === "number") {
      if (ev.sequence <= this.seq) return false;
      this.seq = ev.sequence;
    }
    if (ev.event_id) this.lastId = ev.event_id;
    if (!ev.run_id) return true;
    this.run(ev.run_id).apply(ev);
    return true;
  }
}

class RunView {
  constructor(id, opts) {
    this.id = id;
    this.opts = opts;
    this.status = badge("queued");
    this.usage = { input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cost_usd: 0, model_calls: 0 };
    this.usageEl = h("span", { class: "usage" }, "no model calls yet");
    this.body = h("div", { class: "run-body" });
    this.text = null; // the agent text block tokens go to
    this.tools = new Map();
    this.requests = new Map();
    this.cancelNote = h("span", { class: "decision", role: "status" });
    this.cancelButton = h("button", { type: "button", class: "cancel-run", on: { click: () => this.cancel() } }, "Cancel run");
    this.el = h("section", { class: "run", "data-run-id": id, "aria-label": "Run " + id },
      h("header", { class: "run-head" },
        h("span", { class: "run-id" }, "Run ", h("code", {}, id)),
        this.status,
        this.usageEl,
        this.cancelButton,
        this.cancelNote),
      this.body);
  }

  async cancel() {
    if (!this.opts.cancel) return;
    this.cancelButton.disabled = true;
    this.cancelNote.textContent = "Cancelling…";
    try {
      await this.opts.cancel(this.id);
      this.cancelNote.textContent = ""; // the run_status event says the rest
    } catch (e) {
      this.cancelNote.textContent = "Could not cancel: " + e.message;
      this.cancelButton.disabled = false;
    }
  }

  setStatus(s, ev) {
    const b = badge(s);
    this.status.replaceWith(b);
    this.status = b;
    this.el.setAttribute("data-status", s);
    this.cancelButton.hidden = !isActive(s);
    if (ev && ev.error) this.body.appendChild(h("p", { class: "error", role: "alert" }, "Run error: ", String(ev.error.message || ev.error.code || "")));
    if (!isActive(s)) this.closeText();
  }

  closeText() {
    if (this.text) this.text.el.classList.remove("streaming");
    this.text = null;
  }

  apply(ev) {
    switch (ev.type) {
      case "run_status":
        this.setStatus(ev.status, ev);
        break;
      case "message":
        if (ev.subagent || ev.parent_tool_call_id) break;
        if (ev.role === "user") {
          this.closeText();
          this.body.appendChild(h("div", { class: "msg msg-user" }, h("span", { class: "who" }, "User"), h("p", { class: "content" }, ev.content ?? "")));
        } else {
          // The tokens already showed this text; a message without tokens
          // before it (none streamed) shows its content.
          if (!this.text) this.newText().content.textContent = ev.content ?? "";
          this.text.el.setAttribute("data-message-id", ev.message_id || "");
          this.closeText();
        }
        break;
      case "token":
        if (ev.subagent || ev.parent_tool_call_id) break;
        if (!this.text) this.newText();
        this.text.content.appendChild(document.createTextNode(ev.delta ?? ""));
        break;
      case "reasoning": {
        this.closeText();
        this.body.appendChild(h("details", { class: "reasoning" }, h("summary", {}, "Reasoning"), h("pre", {}, ev.delta ?? "")));
        break;
      }
      case "tool_call":
        this.toolCall(ev);
        break;
      case "tool_result":
        this.toolResult(ev);
        break;
      case "steering_request":
        this.steering(ev);
        break;
      case "steering_resolved":
        this.resolved(ev.steering_request_id, ev.decision, ev.message);
        break;
      case "usage":
        for (const k of ["input_tokens", "output_tokens", "cache_read_tokens", "cost_usd"]) this.usage[k] += Number(ev[k] || 0);
        this.usage.model_calls++;
        this.showUsage();
        break;
    }
  }

  newText() {
    const content = h("p", { class: "content" });
    const el = h("div", { class: "msg msg-agent streaming" }, h("span", { class: "who" }, "Agent"), content);
    this.body.appendChild(el);
    this.text = { el, content };
    return this.text;
  }

  showUsage() {
    const u = this.usage;
    const el = h("span", { class: "usage" },
      `${u.model_calls} model call${u.model_calls === 1 ? "" : "s"} · ${u.input_tokens} in / ${u.output_tokens} out tokens` +
      (u.cache_read_tokens ? ` · ${u.cache_read_tokens} cached` : "") + ` · $${u.cost_usd.toFixed(4)}`);
    this.usageEl.replaceWith(el);
    this.usageEl = el;
  }

  toolCall(ev) {
    this.closeText();
    const result = h("div", { class: "tool-result" }, h("em", {}, "waiting for the result…"));
    const summaryName = h("code", {}, ev.tool ?? "?");
    const state = h("span", { class: "tool-state" }, "running");
    const el = h("details", { class: "tool", "data-tool-call-id": ev.tool_call_id || "" },
      h("summary", {}, "Tool call ", summaryName, ev.origin && ev.origin !== "builtin" ? [" from ", h("code", {}, ev.origin)] : null, " — ", state),
      h("h4", {}, "Arguments"),
      h("pre", { class: "json" }, JSON.stringify(ev.arguments ?? {}, null, 2)),
      h("h4", {}, "Result"),
      result);
    this.tools.set(ev.tool_call_id, { el, result, state });
    this.body.appendChild(el);
  }

  toolResult(ev) {
    let t = this.tools.get(ev.tool_call_id);
    if (!t) {
      this.toolCall({ tool_call_id: ev.tool_call_id, tool: ev.tool, origin: ev.origin, arguments: {} });
      t = this.tools.get(ev.tool_call_id);
    }
    clear(t.result).appendChild(h("pre", { class: ev.is_error ? "error" : "" }, ev.result ?? ""));
    if (ev.truncated) t.result.appendChild(h("p", {}, "Truncated; the whole output is in the workspace at ", h("code", {}, ev.output_path ?? "")));
    t.state.textContent = ev.is_error ? "error" : "done";
    t.el.classList.toggle("tool-error", !!ev.is_error);
  }

  steering(ev) {
    this.closeText();
    const id = ev.steering_request_id;
    const note = h("p", { class: "decision", role: "status" });
    const buttons = h("div", { class: "actions" });
    const answer = h("input", { type: "text", name: "message", "aria-label": ev.kind === "question" ? "Your answer" : "Message to the agent (optional)", placeholder: ev.kind === "question" ? "Your answer" : "Message (optional)" });
    const send = async (decision, message) => {
      for (const b of buttons.querySelectorAll("button")) b.disabled = true;
      note.textContent = "Sending…";
      try {
        const r = await this.opts.resolve(id, decision, message);
        this.resolved(id, r.decision, r.message);
      } catch (e) {
        note.textContent = "Could not answer: " + e.message;
        for (const b of buttons.querySelectorAll("button")) b.disabled = false;
      }
    };
    if (ev.kind === "question") {
      for (const o of ev.options || []) buttons.appendChild(h("button", { type: "button", on: { click: () => send("answer", o) } }, o));
      buttons.appendChild(answer);
      buttons.appendChild(h("button", { type: "button", class: "primary", on: { click: () => answer.value.trim() && send("answer", answer.value.trim()) } }, "Answer"));
    } else {
      buttons.appendChild(answer);
      buttons.appendChild(h("button", { type: "button", class: "primary approve", on: { click: () => send("approve", answer.value.trim() || undefined) } }, "Approve"));
      buttons.appendChild(h("button", { type: "button", class: "deny", on: { click: () => send("deny", answer.value.trim() || undefined) } }, "Deny"));
    }
    const el = h("section", { class: "steering", "data-steering-id": id, "aria-label": ev.kind === "question" ? "Question from the agent" : "Approval needed" },
      h("h3", {}, ev.kind === "question" ? "The agent asks" : "Approval needed: ", ev.kind === "question" ? null : h("code", {}, ev.tool ?? "")),
      h("p", { class: "summary" }, ev.summary ?? ""),
      ev.kind === "question" ? null : h("pre", { class: "json" }, JSON.stringify(ev.arguments ?? {}, null, 2)),
      buttons, note);
    this.requests.set(id, { el, buttons, note });
    this.body.appendChild(el);
    // A request waits for someone: bring it into view.
    requestAnimationFrame(() => el.scrollIntoView({ block: "center" }));
  }

  resolved(id, decision, message) {
    const r = this.requests.get(id);
    if (!r) return;
    r.el.classList.add("resolved");
    r.el.setAttribute("data-decision", decision || "");
    r.buttons.remove();
    r.note.textContent = "Resolved: " + (decision || "") + (message ? " — " + message : "");
  }
}
