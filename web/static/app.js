// Shared helpers: API calls carry the page's CSRF token; errors come back as messages.
"use strict";
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const SVG_NS = "http://www.w3.org/2000/svg";

async function api(path, options = {}) {
  const headers = Object.assign({ "X-CSRF-Token": csrf, Accept: "application/json" }, options.headers || {});
  let response;
  try {
    response = await fetch(path, Object.assign({}, options, { headers, credentials: "same-origin" }));
  } catch (error) {
    throw new Error("The server cannot be reached. Check the connection; this page will retry.");
  }
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("application/json") ? await response.json().catch(() => null) : null;
  if (response.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
  }
  if (!response.ok) {
    throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  }
  return body;
}

// el("a", {href: "/", class: "x", text: "label"}, child, ...): attributes false/null are left out.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attrs);
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

function setAttributes(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
}

function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return sameDay ? `today ${date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`
    : date.toLocaleString([], { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}

function percent(share) {
  return `${Math.round(100 * share)}%`;
}

function shortId(id) {
  return String(id).slice(0, 8);
}

const STATUS_WORDS = { needs_review: "needs review" };
function statusBadge(status) {
  return el("span", { class: `badge ${status}`, text: STATUS_WORDS[status] || status });
}
