// The console's entry point: log in (REST for the token, then the WebSocket), pick the
// view by role, route events to the views, keep the connection status visible.

import { HotlineClient } from "./client.js";
import { DeskView, DESK_TOPICS } from "./desk.js";
import { frameMeter, frames, metrics } from "./frame.js";
import { applyLabels, language, setLanguage, t } from "./i18n.js";
import { SupervisorView, SUPERVISOR_TOPICS } from "./supervisor.js";
import { $, showError } from "./ui.js";

const SESSION_KEY = "hotline.session";
const params = new URLSearchParams(location.search);

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let session = null; // {token, agent_id, role, extension}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (session) headers.Authorization = `Bearer ${session.token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const err = (data && data.error) || { code: `http_${response.status}`, message: response.statusText };
    throw new ApiError(response.status, err.code, err.message);
  }
  return data;
}

const supervisor = new SupervisorView({ naive: params.get("render") === "naive" });
const desk = new DeskView({ api });
let client = null;
let view = null;

function isSupervisor(role) {
  return role === "supervisor" || role === "admin";
}

function showView(name) {
  view = name;
  $("supervisor").hidden = name !== "supervisor";
  $("desk").hidden = name !== "desk";
  for (const tab of $("views").querySelectorAll("button")) {
    tab.setAttribute("aria-pressed", tab.dataset.view === name ? "true" : "false");
  }
}

function setStatus(status, info = {}) {
  const el = $("conn");
  el.dataset.state = status;
  el.textContent = t(`conn_${status}`) + (info.detail && status !== "connected" ? ` (${info.detail})` : "");
}

async function start(s) {
  session = s;
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  $("login").hidden = true;
  $("logout").hidden = false;
  $("who").textContent = `${s.agent_id} (${s.role})`;
  const sup = isSupervisor(s.role);
  $("views").hidden = !sup;
  showView(sup ? "supervisor" : "desk");
  if (sup) {
    try {
      const [groups, agents] = await Promise.all([api("GET", "/api/groups"), api("GET", "/api/agents")]);
      supervisor.setDirectory({ groups: groups.items, agents: agents.items });
    } catch (error) {
      if (error.status === 401) return loggedOut(error);
      showError("REST", error);
      supervisor.setDirectory({});
    }
  }
  const topics = sup ? [...SUPERVISOR_TOPICS, "self"] : DESK_TOPICS;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  client = new HotlineClient({
    url: `${scheme}://${location.host}/ws`,
    token: s.token,
    extension: s.extension,
    topics,
    handlers: {
      onStatus: setStatus,
      onSession: (login) => {
        session.extension = login.extension || session.extension;
        desk.attach(client, login);
        if (sup) supervisor.attach(client, session.agent_id);
      },
      onSnapshot: (data) => {
        if (sup) supervisor.onSnapshot(data);
        desk.onSnapshot(data);
        frames.arrived(performance.now());
      },
      onEvent: (frame, arrivedAt) => {
        if (sup) supervisor.onEvent(frame);
        desk.onEvent(frame);
        // How long ago the server stamped it, on the wall clock (performance.timeOrigin
        // plus now() drifts away from Date.now() over a page's life).
        const sent = Date.parse(frame.ts);
        frames.arrived(arrivedAt, Number.isNaN(sent) ? null : arrivedAt - (Date.now() - sent));
      },
      onAuthFailed: (error) => loggedOut(error),
    },
  });
  window.hotline.client = client;
  client.start();
}

function loggedOut(error) {
  if (client) client.stop();
  client = null;
  supervisor.detach();
  desk.detach();
  session = null;
  sessionStorage.removeItem(SESSION_KEY);
  $("login").hidden = false;
  $("supervisor").hidden = true;
  $("desk").hidden = true;
  $("views").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  setStatus("idle");
  $("conn").textContent = "";
  if (error) showError(t("log_in"), error);
  $("login-agent").focus();
}

async function logout() {
  if (client && client.connected) {
    try {
      await client.command("agent.logout");
    } catch {
      // a supervisor without a desk, or already logged out: nothing to undo
    }
  }
  try {
    await api("POST", "/api/logout");
  } catch {
    // the token may have expired already
  }
  loggedOut(null);
}

function bind() {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const agentId = form.elements.agent_id.value.trim();
    const extension = form.elements.extension.value.trim();
    $("login-submit").disabled = true;
    try {
      session = null;
      const reply = await api("POST", "/api/login", { agent_id: agentId, password: form.elements.password.value });
      form.elements.password.value = "";
      await start({ token: reply.token, agent_id: reply.agent_id || agentId, role: reply.role, extension: extension || null });
    } catch (error) {
      showError(t("log_in"), error);
    } finally {
      $("login-submit").disabled = false;
    }
  });
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", () => {
    setLanguage(language() === "zh" ? "en" : "zh");
    supervisor.relabel();
    desk.relabel();
  });
  for (const tab of $("views").querySelectorAll("button")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }
  document.addEventListener("keydown", (ev) => {
    if (view === "desk" && !$("desk").hidden && desk.onKey(ev)) ev.preventDefault();
  });
}

window.hotline = { metrics, frames, frameMeter, supervisor, desk, client: null, api };
applyLabels(document);
bind();
const saved = sessionStorage.getItem(SESSION_KEY);
if (saved) {
  start(JSON.parse(saved));
} else {
  $("login-agent").focus();
}
