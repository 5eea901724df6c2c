// Small DOM helpers shared by the views: element building, durations, messages.

import { t } from "./i18n.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) el.append(child);
  return el;
}

export function $(id) {
  return document.getElementById(id);
}

// "m:ss" or "h:mm:ss" from seconds.
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds) || seconds < 0) return "—";
  const s = Math.floor(seconds);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

// Server time (ISO) to ms since the epoch; null when absent.
export function parseTime(iso) {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

// Clock skew between this browser and the server, from event timestamps: durations are
// computed on the server's clock so that "time in state" is right on a skewed PC.
let skewMs = 0;
export function noteServerTime(iso) {
  const ms = parseTime(iso);
  if (ms !== null) skewMs = ms - Date.now();
}
export function serverNow() {
  return Date.now() + skewMs;
}

// A visible message: errors stay until dismissed (or replaced by 8 more), notices fade.
export function showError(what, error) {
  const code = error && error.code ? error.code : "error";
  const message = error && error.message ? error.message : String(error);
  const box = $("errors");
  const item = h(
    "div",
    { class: "error", "data-code": code },
    h("span", {}, h("strong", { text: `${what}: ` }), h("span", { class: "message", text: message }),
      " ", h("code", { text: `(${code})` })),
    h("button", { type: "button", text: t("dismiss"), onclick: () => item.remove() }),
  );
  box.append(item);
  while (box.children.length > 8) box.firstElementChild.remove();
  return item;
}

export function showNotice(text) {
  const item = h("div", { class: "error notice", role: "status", text });
  $("errors").append(item);
  setTimeout(() => item.remove(), 3000);
}

// Run a command from a button: the button is busy meanwhile, the server's error
// message is shown if it refuses. Resolves with the reply data or null.
export async function act(client, op, params, { button = null, label = op, notice = true } = {}) {
  if (button) button.setAttribute("aria-busy", "true");
  try {
    const data = await client.command(op, params);
    if (notice) showNotice(`${label}: ${t("done")}`);
    return data;
  } catch (error) {
    showError(label, error);
    return null;
  } finally {
    if (button) button.removeAttribute("aria-busy");
  }
}
