// The supervisor / dispatcher view: lamp field, agents, queues, trunks, live calls,
// conferences and group calls, kept live from the WebSocket.
//
// Rendering: an event only updates the model and marks the thing it changed; the
// frame batcher (frame.js) renders each marked lamp, row or meter once per animation
// frame. Nothing is ever re-rendered as a whole, except in the "naive" mode kept as the
// benchmark's baseline (?render=naive), which rebuilds the view on every event.

import { ConferencePanel } from "./conferences.js";
import { frames } from "./frame.js";
import { GroupPanel } from "./groups.js";
import { t } from "./i18n.js";
import { $, act, duration, h, noteServerTime, parseTime, serverNow, showError } from "./ui.js";

export const SUPERVISOR_TOPICS = ["agents", "calls", "queues", "trunks", "extensions", "pbx", "conferences"];
const MODES = ["listen", "whisper", "barge"];
const MONITOR_OVER = new Set(["stopped", "failed"]);
const LAMP_STATES = new Set(["idle", "busy", "ringing", "unavailable"]);
const OTHER = "\u0000other";

export class SupervisorView {
  constructor({ naive = false } = {}) {
    this.client = null;
    this.naive = naive;
    this.extensions = new Map(); // ext -> {state, since}
    this.agents = new Map(); // agent_id -> {agent_id, extension, state, reason, since}
    this.names = new Map(); // agent_id -> name (REST directory)
    this.queues = new Map();
    this.trunks = new Map();
    this.calls = new Map(); // call_id -> {call_id, caller, queue, agent_id, extension, state, since}
    this.groups = []; // [{name, extensions}]
    this.monitors = new Map(); // call_id -> the live monitor (call.monitored) on that call
    this.me = null; // this supervisor's agent ID: their own monitor's keys show its mode
    this.conferencePanel = new ConferencePanel();
    this.groupPanel = new GroupPanel({
      onChanged: (groups) => this._groupsChanged(groups),
      onCalled: (conf) => this.conferencePanel.know(conf),
    });
    this.selection = new Set();
    // DOM indexes
    this.lampEls = new Map(); // ext -> [button, ...] (an extension may sit in several groups)
    this.otherGrid = null;
    this.agentRows = new Map();
    this.queueRows = new Map();
    this.trunkRows = new Map();
    this.callRows = new Map();
    this.ticker = null;
    this._bindStatic();
  }

  // ------------------------------------------------------------------ setup

  attach(client, me = null) {
    this.client = client;
    this.me = me;
    this.conferencePanel.attach(client);
    this.groupPanel.attach(client);
    if (!this.ticker) this.ticker = setInterval(() => this._tick(), 1000);
    if (!this.blinker) {
      const field = $("lamp-groups");
      this.blinker = setInterval(() => frames.schedule("blink", () => field.classList.toggle("blink")), 500);
    }
  }

  detach() {
    clearInterval(this.ticker);
    clearInterval(this.blinker);
    this.ticker = null;
    this.blinker = null;
    this.client = null;
  }

  // Lamp groups and names from REST (GET /api/groups, /api/agents).
  setDirectory({ groups = [], agents = [] }) {
    this.groups = groups.map((g) => ({ name: g.name, extensions: [...g.extensions] }));
    for (const a of agents) {
      this.names.set(a.agent_id, a.name || "");
      if (a.extension && !this.extensions.has(a.extension)) {
        this.extensions.set(a.extension, { state: "unknown", since: null });
      }
    }
    for (const g of this.groups) {
      for (const ext of g.extensions) {
        if (!this.extensions.has(ext)) this.extensions.set(ext, { state: "unknown", since: null });
      }
    }
    this._buildLampField();
    this.groupPanel.setGroups(groups);
    for (const id of this.agentRows.keys()) this._markAgent(id);
  }

  // After a group edit: the lamp field is laid out by the groups again.
  _groupsChanged(groups) {
    this.groups = groups.map((g) => ({ name: g.name, extensions: [...g.extensions] }));
    for (const g of this.groups) {
      for (const ext of g.extensions) {
        if (!this.extensions.has(ext)) this.extensions.set(ext, { state: "unknown", since: null });
      }
    }
    this._buildLampField();
    for (const ext of this.extensions.keys()) this._markLamp(ext);
  }

  _bindStatic() {
    const field = $("lamp-groups");
    field.addEventListener("click", (ev) => {
      const lamp = ev.target.closest("button.lamp");
      if (lamp) this._toggleSelect(lamp.dataset.ext);
    });
    // The hover/focus text is computed when asked for, not on every event.
    const explain = (ev) => {
      const lamp = ev.target.closest && ev.target.closest("button.lamp");
      if (lamp) lamp.title = this.lampText(lamp.dataset.ext);
    };
    field.addEventListener("mouseover", explain);
    field.addEventListener("focusin", explain);
    $("act-direct").addEventListener("click", (ev) => this._direct(ev.currentTarget));
    $("act-pickup").addEventListener("click", (ev) => this._pickup(ev.currentTarget));
    $("act-select-call").addEventListener("click", (ev) => this._selectCall(ev.currentTarget));
    $("act-clear").addEventListener("click", () => this._clearSelection());
    $("calls").addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-op]");
      if (button) this._callAction(button);
    });
  }

  // After a language switch: texts drawn from t() are drawn again.
  relabel() {
    if (this.naive) return this.renderAll();
    for (const ext of this.extensions.keys()) this._markLamp(ext);
    for (const id of this.agentRows.keys()) this._markAgent(id);
    for (const id of this.callRows.keys()) this._markCall(id);
    this.conferencePanel.relabel();
    this.groupPanel.render();
    return undefined;
  }

  // ------------------------------------------------------------------ input

  onSnapshot(data) {
    if (data.extensions) {
      for (const [ext, lamp] of this.extensions) {
        lamp.state = "unknown";
        this._markLamp(ext);
      }
      for (const e of data.extensions) this._setLamp(e.extension, e.state, null);
    }
    if (data.agents) {
      const seen = new Set();
      for (const a of data.agents) {
        seen.add(a.agent_id);
        this._setAgent(a);
      }
      for (const id of [...this.agents.keys()]) if (!seen.has(id)) this._dropAgent(id);
    }
    if (data.calls) {
      for (const id of [...this.calls.keys()]) this._dropCall(id);
      for (const c of data.calls) {
        const agent = c.agent_id ? this.agents.get(c.agent_id) : null;
        this._setCall({ ...c, extension: agent ? agent.extension : null, since: parseTime(c.since) });
      }
    }
    if (data.monitors) {
      for (const id of [...this.monitors.keys()]) this._dropMonitor(id);
      for (const m of data.monitors) this._setMonitor(m);
    }
    if (data.conferences) this.conferencePanel.replaceAll(data.conferences);
    if (data.queues) for (const q of data.queues) this._setQueue(q);
    if (data.trunks) for (const tr of data.trunks) this._setTrunk(tr);
    if (data.pbx) this._pbx(data.pbx.state);
    this._changed();
  }

  onEvent(frame) {
    const d = frame.data;
    const at = parseTime(frame.ts);
    noteServerTime(frame.ts);
    switch (frame.event) {
      case "extension.state":
        this._setLamp(d.extension, d.state, at);
        break;
      case "agent.state":
        this._setAgent(d);
        break;
      case "call.queued":
        this._setCall({ call_id: d.call_id, caller: d.caller, queue: d.queue, state: "queued", since: at });
        break;
      case "call.ringing":
        this._setCall({ call_id: d.call_id, caller: d.caller, queue: d.queue, agent_id: d.agent_id,
          extension: d.extension, state: d.answered ? "talking" : "ringing" });
        break;
      case "call.answered":
        this._setCall({ call_id: d.call_id, agent_id: d.agent_id, state: "talking", since: at });
        break;
      case "call.ended":
      case "call.abandoned":
      case "call.fallback":
        this._dropMonitor(d.call_id);
        this._dropCall(d.call_id);
        break;
      case "call.monitored":
        this._setMonitor(d);
        break;
      case "conference.started":
        this.conferencePanel.set(d);
        break;
      case "conference.updated":
        this.conferencePanel.update(d);
        break;
      case "conference.ended":
        this.conferencePanel.end(d.conference || d.room);
        break;
      case "queue.stats":
        this._setQueue(d);
        break;
      case "trunk.stats":
        this._setTrunk(d);
        break;
      case "pbx.link":
        this._pbx(d.state);
        break;
      default:
        return;
    }
    this._changed();
  }

  _changed() {
    if (this.naive) this.renderAll(); // the baseline: everything, now, per event
  }

  // ------------------------------------------------------------------ model updates

  _setLamp(ext, state, at) {
    const lamp = this.extensions.get(ext);
    const clean = LAMP_STATES.has(state) ? state : "unknown";
    if (!lamp) {
      this.extensions.set(ext, { state: clean, since: at });
      this._newLamp(ext);
    } else {
      if (lamp.state !== clean) lamp.since = at;
      lamp.state = clean;
    }
    this._markLamp(ext);
  }

  _setAgent(a) {
    const known = this.agents.get(a.agent_id);
    const agent = known || { agent_id: a.agent_id };
    agent.extension = a.extension ?? agent.extension ?? null;
    agent.state = a.state;
    agent.reason = a.reason ?? null;
    agent.since = parseTime(a.since);
    this.agents.set(a.agent_id, agent);
    this._markAgent(a.agent_id);
  }

  _dropAgent(id) {
    this.agents.delete(id);
    this._markAgent(id);
  }

  _setCall(c) {
    const call = this.calls.get(c.call_id) || { call_id: c.call_id, state: "queued", since: null };
    for (const [k, v] of Object.entries(c)) if (v !== undefined && v !== null) call[k] = v;
    if (call.agent_id && !call.extension) {
      const agent = this.agents.get(call.agent_id);
      if (agent) call.extension = agent.extension;
    }
    this.calls.set(c.call_id, call);
    this._markCall(c.call_id);
  }

  _dropCall(id) {
    if (this.calls.delete(id)) this._markCall(id);
  }

  // One monitor per call is shown: the latest word on it (stopped / failed ends it).
  _setMonitor(m) {
    if (!m || !m.call_id) return;
    if (MONITOR_OVER.has(m.state)) {
      const known = this.monitors.get(m.call_id);
      if (!known || known.supervisor === m.supervisor) this._dropMonitor(m.call_id);
      return;
    }
    this.monitors.set(m.call_id, m);
    this._markCall(m.call_id);
  }

  _dropMonitor(id) {
    if (this.monitors.delete(id)) this._markCall(id);
  }

  _setQueue(q) {
    this.queues.set(q.queue, q);
    if (!this.naive) frames.schedule(`q:${q.queue}`, () => this._renderQueue(q.queue));
  }

  _setTrunk(tr) {
    this.trunks.set(tr.trunk, tr);
    if (!this.naive) frames.schedule(`t:${tr.trunk}`, () => this._renderTrunk(tr.trunk));
  }

  _pbx(state) {
    $("pbx").hidden = state !== "down";
  }

  _markLamp(ext) {
    if (!this.naive) frames.schedule(`l:${ext}`, () => this._renderLamp(ext));
  }

  _markAgent(id) {
    if (!this.naive) frames.schedule(`a:${id}`, () => this._renderAgent(id));
  }

  _markCall(id) {
    if (!this.naive) frames.schedule(`c:${id}`, () => this._renderCall(id));
  }

  _tick() {
    if (this.naive) {
      this.renderAll();
      return;
    }
    frames.schedule("tick", () => {
      const now = serverNow();
      for (const [id, row] of this.agentRows) {
        const agent = this.agents.get(id);
        setText(row.time, agent && agent.since ? duration((now - agent.since) / 1000) : "—");
      }
      for (const [id, row] of this.callRows) {
        const call = this.calls.get(id);
        setText(row.time, call && call.since ? duration((now - call.since) / 1000) : "—");
      }
      for (const [name, row] of this.queueRows) {
        const q = this.queues.get(name);
        if (q) setText(row.longest, `${Math.round(q.longest_wait_s)} s`);
      }
    });
  }

  // ------------------------------------------------------------------ lamps

  _buildLampField() {
    const field = $("lamp-groups");
    field.replaceChildren();
    this.lampEls.clear();
    const grouped = new Set();
    for (const g of this.groups) {
      const grid = h("div", { class: "lamp-grid", role: "group", "aria-label": g.name });
      for (const ext of g.extensions) {
        grid.append(this._lampButton(ext));
        grouped.add(ext);
      }
      field.append(h("div", { class: "lamp-group", "data-group": g.name }, h("h3", { text: g.name }), grid));
    }
    this.otherGrid = h("div", { class: "lamp-grid", role: "group", "aria-label": t("other_extensions") });
    const rest = [...this.extensions.keys()].filter((e) => !grouped.has(e)).sort(byNumber);
    for (const ext of rest) this.otherGrid.append(this._lampButton(ext));
    field.append(h("div", { class: "lamp-group", "data-group": OTHER },
      h("h3", { "data-i18n": "other_extensions", text: t("other_extensions") }), this.otherGrid));
  }

  _lampButton(ext) {
    const lamp = this.extensions.get(ext) || { state: "unknown" };
    const button = h("button", { type: "button", class: "lamp", "data-ext": ext,
      "data-state": lamp.state, "aria-pressed": this.selection.has(ext) ? "true" : "false",
      text: ext });
    const list = this.lampEls.get(ext);
    if (list) list.push(button);
    else this.lampEls.set(ext, [button]);
    return button;
  }

  _newLamp(ext) {
    // An extension nobody configured: it joins "other", in number order, in the next frame.
    if (this.naive || !this.otherGrid) return;
    frames.schedule(`new:${ext}`, () => {
      if (this.lampEls.has(ext)) return;
      const button = this._lampButton(ext);
      const after = [...this.otherGrid.children].find((b) => byNumber(b.dataset.ext, ext) > 0);
      this.otherGrid.insertBefore(button, after || null);
    });
  }

  _renderLamp(ext) {
    const lamp = this.extensions.get(ext);
    const els = this.lampEls.get(ext);
    if (!lamp || !els) return;
    for (const el of els) {
      if (el.dataset.state !== lamp.state) el.dataset.state = lamp.state;
      el.setAttribute("aria-label", `${ext} ${t(`lamp_${lamp.state}`)}`);
    }
  }

  // What the hover / focus shows: state, the party, how long.
  lampText(ext) {
    const lamp = this.extensions.get(ext);
    if (!lamp) return ext;
    const parts = [`${ext} · ${t(`lamp_${lamp.state}`)}`];
    const call = [...this.calls.values()].find((c) => c.extension === ext);
    const agent = [...this.agents.values()].find((a) => a.extension === ext);
    if (agent) parts.push(`${t("col_agent")} ${agent.agent_id} ${this.names.get(agent.agent_id) || ""}`.trim());
    if (call && lamp.state !== "idle") parts.push(`${t("party")} ${call.caller || "?"}`);
    if (lamp.since && lamp.state !== "unknown") {
      parts.push(`${t("duration")} ${duration((serverNow() - lamp.since) / 1000)}`);
    }
    return parts.join("\n");
  }

  _toggleSelect(ext) {
    if (this.selection.has(ext)) this.selection.delete(ext);
    else this.selection.add(ext);
    for (const el of this.lampEls.get(ext) || []) {
      el.setAttribute("aria-pressed", this.selection.has(ext) ? "true" : "false");
    }
    this._selectionChanged();
  }

  _clearSelection() {
    for (const ext of this.selection) {
      for (const el of this.lampEls.get(ext) || []) el.setAttribute("aria-pressed", "false");
    }
    this.selection.clear();
    this._selectionChanged();
  }

  _selectionChanged() {
    const n = this.selection.size;
    $("selection").textContent = n ? [...this.selection].join(", ") : "—";
    $("act-direct").disabled = n !== 1;
    $("act-pickup").disabled = n !== 1;
    $("act-select-call").disabled = n < 1;
    $("act-clear").disabled = n < 1;
  }

  _only() {
    return [...this.selection][0];
  }

  async _direct(button) {
    await act(this.client, "extension.call", { extension: this._only() }, { button, label: t("direct_call") });
  }

  async _pickup(button) {
    await act(this.client, "extension.pickup", { extension: this._only() }, { button, label: t("pickup") });
  }

  async _selectCall(button) {
    const extensions = [...this.selection];
    const data = await act(this.client, "conference.start", { extensions }, { button, label: t("select_call") });
    if (data) {
      this.conferencePanel.know(data);
      this._clearSelection();
    }
  }

  // ------------------------------------------------------------------ agents

  _renderAgent(id) {
    const agent = this.agents.get(id);
    let row = this.agentRows.get(id);
    if (!agent) {
      if (row) row.tr.remove();
      this.agentRows.delete(id);
      return;
    }
    if (!row) row = this._agentRow(id);
    setText(row.name, this.names.get(id) || "");
    setText(row.ext, agent.extension || "—");
    setText(row.state, t(`state_${agent.state}`));
    if (row.state.dataset.state !== agent.state) row.state.dataset.state = agent.state;
    setText(row.reason, agent.reason || "");
    setText(row.time, agent.since ? duration((serverNow() - agent.since) / 1000) : "—");
  }

  _agentRow(id) {
    const cells = { id: h("td", { text: id }), name: h("td"), ext: h("td"),
      state: h("td", { class: "state" }), reason: h("td"), time: h("td", { class: "num" }) };
    const tr = h("tr", { "data-agent": id }, cells.id, cells.name, cells.ext, cells.state, cells.reason, cells.time);
    const row = { tr, ...cells };
    const body = $("agents").tBodies[0];
    // Keep agent-ID order; rows are only inserted when an agent first appears.
    let next = null;
    for (const [other, r] of this.agentRows) if (byNumber(other, id) > 0 && (!next || byNumber(other, next.tr.dataset.agent) < 0)) next = r;
    body.insertBefore(tr, next ? next.tr : null);
    this.agentRows.set(id, row);
    return row;
  }

  // ------------------------------------------------------------------ queues, trunks

  _renderQueue(name) {
    const q = this.queues.get(name);
    let row = this.queueRows.get(name);
    if (!row) {
      const cells = { name: h("td", { text: name }), waiting: h("td", { class: "num" }),
        longest: h("td", { class: "num" }), sl: h("td", { class: "num" }), ready: h("td", { class: "num" }) };
      const tr = h("tr", { "data-queue": name }, cells.name, cells.waiting, cells.longest, cells.sl, cells.ready);
      $("queues").tBodies[0].append(tr);
      row = { tr, ...cells };
      this.queueRows.set(name, row);
    }
    setText(row.waiting, String(q.waiting));
    setText(row.longest, `${Math.round(q.longest_wait_s)} s`);
    const sl = q.service_level === null || q.service_level === undefined ? "—" : `${Math.round(q.service_level * 100)} %`;
    const target = q.service_level_target ? ` / ${Math.round(q.service_level_target * 100)} %` : "";
    setText(row.sl, sl + target);
    setText(row.ready, String(q.agents_ready));
  }

  _renderTrunk(name) {
    const tr = this.trunks.get(name);
    let row = this.trunkRows.get(name);
    if (!row) {
      const bar = h("span");
      const meter = h("div", { class: "meter", role: "meter", "aria-label": name, "aria-valuemin": "0" }, bar);
      const count = h("span", { class: "num" });
      const el = h("div", { class: "trunk", "data-trunk": name }, h("span", { text: name }), meter, count);
      $("trunks").append(el);
      row = { el, meter, bar, count };
      this.trunkRows.set(name, row);
    }
    const capacity = tr.capacity || 30;
    row.bar.style.width = `${Math.min(100, (100 * tr.busy) / capacity)}%`;
    row.meter.classList.toggle("high", tr.busy >= capacity * 0.9);
    row.meter.setAttribute("aria-valuenow", String(tr.busy));
    row.meter.setAttribute("aria-valuemax", String(capacity));
    setText(row.count, `${tr.busy}/${capacity}`);
  }

  // ------------------------------------------------------------------ live calls

  _renderCall(id) {
    const call = this.calls.get(id);
    let row = this.callRows.get(id);
    if (!call) {
      if (row) row.tr.remove();
      this.callRows.delete(id);
      return;
    }
    if (!row) row = this._callRow(id);
    setText(row.caller, call.caller || "");
    setText(row.queue, call.queue || "");
    setText(row.agent, call.agent_id ? `${call.agent_id}${call.extension ? ` (${call.extension})` : ""}` : "—");
    setText(row.state, t(`call_${call.state}`));
    row.tr.dataset.state = call.state;
    setText(row.time, call.since ? duration((serverNow() - call.since) / 1000) : "—");
    const monitor = this.monitors.get(id);
    const mine = monitor && monitor.supervisor === this.me ? monitor : null;
    setText(row.monitor, monitor ? `${monitor.supervisor} ${t(`mode_${monitor.mode}`)}` : "");
    row.tr.dataset.monitor = mine ? mine.mode : "";
    const live = call.state === "talking";
    for (const mode of MODES) {
      const button = row.buttons[mode];
      button.disabled = !live;
      button.setAttribute("aria-pressed", mine && mine.mode === mode ? "true" : "false");
    }
    row.buttons.stop.disabled = !mine;
    row.buttons["extension.pickup"].disabled = call.state !== "ringing";
  }

  _callRow(id) {
    const button = (op, key, cls, mode) => h("button", { type: "button", "data-op": op, "data-call": id,
      "data-mode": mode, "data-i18n": key, class: cls, text: t(key) });
    // One monitor session per call: the three mode keys switch it (call.monitor {mode}),
    // the supervisor's phone stays on the spy; stop ends it.
    const buttons = {
      listen: button("call.monitor", "listen", null, "listen"),
      whisper: button("call.monitor", "whisper", null, "whisper"),
      barge: button("call.monitor", "barge", null, "barge"),
      stop: button("call.monitor", "stop_monitor", null, "stop"),
      "call.release": button("call.release", "release", "danger"),
      "extension.pickup": button("extension.pickup", "pickup"),
    };
    const cells = { id: h("td", { text: id }), caller: h("td"), queue: h("td"), agent: h("td"),
      state: h("td"), monitor: h("td", { class: "monitor" }), time: h("td", { class: "num" }),
      actions: h("td", { class: "actions" }, ...Object.values(buttons)) };
    const tr = h("tr", { "data-call": id }, cells.id, cells.caller, cells.queue, cells.agent, cells.state,
      cells.monitor, cells.time, cells.actions);
    $("calls").tBodies[0].append(tr);
    const row = { tr, buttons, ...cells };
    this.callRows.set(id, row);
    return row;
  }

  async _callAction(button) {
    const op = button.dataset.op;
    const id = button.dataset.call;
    const call = this.calls.get(id);
    const label = `${t(button.dataset.i18n)} ${id}`;
    if (op === "extension.pickup") {
      if (!call || !call.extension) return;
      await act(this.client, op, { extension: call.extension }, { button, label });
    } else if (op === "call.release") {
      const reason = $("release-reason") ? $("release-reason").value.trim() : "";
      await act(this.client, op, { call_id: id, ...(reason ? { reason } : {}) }, { button, label });
    } else if (op === "call.monitor") {
      const data = await act(this.client, op, { call_id: id, mode: button.dataset.mode }, { button, label });
      if (data && button.dataset.mode !== "stop") this._setMonitor(data);
    } else {
      await act(this.client, op, { call_id: id }, { button, label });
    }
  }

  // ------------------------------------------------------------------ baseline

  // The naive renderer: the whole view rebuilt from the model (benchmark baseline only).
  renderAll() {
    const field = $("lamp-groups");
    const lampHtml = (ext) => {
      const s = (this.extensions.get(ext) || { state: "unknown" }).state;
      return `<button type="button" class="lamp" data-ext="${esc(ext)}" data-state="${s}" title="${esc(this.lampText(ext))}">${esc(ext)}</button>`;
    };
    const grouped = new Set(this.groups.flatMap((g) => g.extensions));
    const rest = [...this.extensions.keys()].filter((e) => !grouped.has(e)).sort(byNumber);
    field.innerHTML = [...this.groups.map((g) => ({ name: g.name, exts: g.extensions })), { name: t("other_extensions"), exts: rest }]
      .map((g) => `<div class="lamp-group"><h3>${esc(g.name)}</h3><div class="lamp-grid">${g.exts.map(lampHtml).join("")}</div></div>`)
      .join("");
    const now = serverNow();
    $("agents").tBodies[0].innerHTML = [...this.agents.values()].sort((a, b) => byNumber(a.agent_id, b.agent_id))
      .map((a) => `<tr data-agent="${esc(a.agent_id)}"><td>${esc(a.agent_id)}</td><td>${esc(this.names.get(a.agent_id) || "")}</td><td>${esc(a.extension || "—")}</td><td class="state" data-state="${a.state}">${t(`state_${a.state}`)}</td><td>${esc(a.reason || "")}</td><td class="num">${a.since ? duration((now - a.since) / 1000) : "—"}</td></tr>`)
      .join("");
    $("calls").tBodies[0].innerHTML = [...this.calls.values()]
      .map((c) => `<tr data-call="${esc(c.call_id)}"><td>${esc(c.call_id)}</td><td>${esc(c.caller || "")}</td><td>${esc(c.queue || "")}</td><td>${esc(c.agent_id || "—")}</td><td>${t(`call_${c.state}`)}</td><td></td><td class="num">${c.since ? duration((now - c.since) / 1000) : "—"}</td><td></td></tr>`)
      .join("");
    $("queues").tBodies[0].innerHTML = [...this.queues.values()]
      .map((q) => `<tr><td>${esc(q.queue)}</td><td class="num">${q.waiting}</td><td class="num">${Math.round(q.longest_wait_s)} s</td><td class="num">${q.service_level ?? "—"}</td><td class="num">${q.agents_ready}</td></tr>`)
      .join("");
    $("trunks").innerHTML = [...this.trunks.values()]
      .map((tr) => `<div class="trunk"><span>${esc(tr.trunk)}</span><div class="meter"><span style="width:${(100 * tr.busy) / (tr.capacity || 30)}%"></span></div><span>${tr.busy}/${tr.capacity}</span></div>`)
      .join("");
  }
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function byNumber(a, b) {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

export { showError };
