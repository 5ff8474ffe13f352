// dom.js builds the console's elements. Every string passed as a child
// becomes a text node and every attribute is set with setAttribute, so
// text from the server (customer- and agent-controlled) is never parsed
// as HTML. Nothing in the console parses server text as markup.

const forbidden = /^on/i;

// h(tag, attrs, ...children) creates an element. attrs: plain attributes,
// plus `on: {event: handler}` for listeners, `props: {...}` for DOM
// properties (value, checked, disabled). children: strings, numbers, nodes,
// arrays of them, null/undefined/false (skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "on") {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === "props") {
      Object.assign(el, v);
    } else if (forbidden.test(k)) {
      throw new Error("event handler attributes are not allowed: " + k);
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// clear removes every child of el.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// fmtTime shows an RFC 3339 time in the reader's locale.
export function fmtTime(s) {
  if (!s) return "—";
  const d = new Date(s);
  return isNaN(d) ? String(s) : d.toLocaleString();
}

// badge is a status label (its class names the status for the styles).
export function badge(status) {
  const s = String(status ?? "unknown");
  return h("span", { class: "badge badge-" + s.replace(/[^a-z_]/g, "") }, s);
}

// json shows a value as indented JSON text.
export function json(v) {
  return h("pre", { class: "json" }, JSON.stringify(v, null, 2));
}
