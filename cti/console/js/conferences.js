// The conference panel of the supervisor view: every running select-call (选呼) and
// group-call (群呼) conference with its members' state from `conference.*` events, and
// the keys that act on it: add members, drop, mute / unmute, end (docs/dispatch.md).
//
// Each conference and member row is updated in place (never rebuilt), so a key keeps
// the keyboard focus while the PBX's events change the rows around it.

import { frames } from "./frame.js";
import { t } from "./i18n.js";
import { $, act, h } from "./ui.js";

const GONE = new Set(["left", "failed", "dropped"]);

// "8001, 8002 8003" (or the Chinese comma / 、) → ["8001", "8002", "8003"]
export function parseExtensions(text) {
  return text.split(/[\s,，、;；]+/).filter(Boolean);
}

export class ConferencePanel {
  constructor() {
    this.client = null;
    this.conferences = new Map(); // room -> the conference as the server sends it
    this.els = new Map(); // room -> {li, title, members: Map ext -> row, body}
    this.ended = new Set(); // rooms ended since their last start (rooms are reused)
    $("conferences").addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-op]");
      if (button) this._act(button);
    });
    $("conferences").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const form = ev.target.closest("form[data-room]");
      if (form) this._add(form);
    });
  }

  attach(client) {
    this.client = client;
  }

  // The snapshot's list: it replaces what the panel had.
  replaceAll(list) {
    const rooms = new Set(list.map((c) => c.conference));
    for (const room of [...this.conferences.keys()]) if (!rooms.has(room)) this.end(room);
    for (const c of list) this.set(c);
    this._renderEmpty();
  }

  set(conf) {
    const room = conf.conference || conf.room;
    if (!room) return;
    this.ended.delete(room);
    this.conferences.set(room, conf);
    frames.schedule(`conf:${room}`, () => this._render(room));
  }

  // conference.updated: an update of an ended room can only be stale (the server sends
  // none after conference.ended; a reused room starts with conference.started), and a
  // late one must not bring the room back.
  update(conf) {
    const room = conf && (conf.conference || conf.room);
    if (room && !this.ended.has(room)) this.set(conf);
  }

  // A command's reply: the events are the newer word, so a reply only fills in a
  // conference the panel has not heard of yet (its conference.started may follow).
  know(conf) {
    const room = conf && (conf.conference || conf.room);
    if (room && !this.conferences.has(room) && !this.ended.has(room)) this.set(conf);
  }

  end(room) {
    this.ended.add(room);
    this.conferences.delete(room);
    frames.schedule(`conf:${room}`, () => this._render(room));
  }

  relabel() {
    for (const room of this.conferences.keys()) this._render(room);
    this._renderEmpty();
  }

  // ------------------------------------------------------------------ render

  _render(room) {
    const conf = this.conferences.get(room);
    let el = this.els.get(room);
    if (!conf) {
      if (el) el.li.remove();
      this.els.delete(room);
      this._renderEmpty();
      return;
    }
    if (!el) el = this._conferenceEl(room);
    const kind = conf.kind === "group" ? `${t("group_call")} ${conf.group || ""}`.trim() : t("select_call");
    setText(el.title, `${t("room")} ${room} · ${kind} · ${t("owner")} ${conf.owner || "—"}`);
    const members = conf.members || (conf.extensions || []).map((e) => ({ extension: e, state: "invited" }));
    const seen = new Set();
    for (const m of members) {
      seen.add(m.extension);
      const row = el.members.get(m.extension) || this._memberRow(el, room, m.extension);
      this._renderMember(row, m);
    }
    for (const [ext, row] of el.members) {
      if (!seen.has(ext)) {
        row.tr.remove();
        el.members.delete(ext);
      }
    }
    this._renderEmpty();
  }

  _renderEmpty() {
    const list = $("conferences");
    let empty = list.querySelector("li.empty");
    if (this.conferences.size) {
      if (empty) empty.remove();
      return;
    }
    if (!empty) {
      empty = h("li", { class: "empty", "data-i18n": "no_conferences" });
      list.append(empty);
    }
    empty.textContent = t("no_conferences");
  }

  _conferenceEl(room) {
    const title = h("h3");
    const body = h("tbody");
    const table = h("table", { class: "members" },
      h("thead", {}, h("tr", {}, ...["col_extension", "col_state", "col_audio", "col_actions"]
        .map((key) => h("th", { "data-i18n": key, text: t(key) })))), body);
    const input = h("input", { name: "extensions", inputmode: "numeric", size: "14",
      "aria-label": `${t("add_extensions")} ${room}`, "data-i18n-attr": "placeholder:extensions_hint",
      placeholder: t("extensions_hint") });
    const form = h("form", { class: "toolbar", "data-room": room },
      h("label", {}, h("span", { "data-i18n": "add_extensions", text: t("add_extensions") }), " ", input),
      h("button", { type: "submit", "data-i18n": "add", text: t("add") }),
      h("button", { type: "button", class: "danger", "data-op": "conference.end", "data-room": room,
        "data-i18n": "end_conference", text: t("end_conference") }));
    const li = h("li", { class: "conference", "data-room": room }, title, table, form);
    $("conferences").append(li);
    const el = { li, title, body, input, members: new Map() };
    this.els.set(room, el);
    return el;
  }

  _memberRow(el, room, ext) {
    const mute = h("button", { type: "button", "data-op": "conference.mute", "data-room": room, "data-ext": ext });
    const drop = h("button", { type: "button", class: "danger", "data-op": "conference.drop", "data-room": room,
      "data-ext": ext, "data-i18n": "drop", text: t("drop") });
    const cells = { ext: h("td", { text: ext }), state: h("td", { class: "state" }), audio: h("td"),
      actions: h("td", { class: "actions" }, mute, drop) };
    const tr = h("tr", { "data-ext": ext }, cells.ext, cells.state, cells.audio, cells.actions);
    el.body.append(tr);
    const row = { tr, mute, drop, ...cells };
    el.members.set(ext, row);
    return row;
  }

  _renderMember(row, m) {
    const state = m.state || "invited";
    row.tr.dataset.state = state;
    row.tr.dataset.muted = m.muted ? "true" : "false";
    setText(row.state, t(`member_${state}`));
    setText(row.audio, [m.muted ? t("muted") : "", m.talking ? t("talking") : ""].filter(Boolean).join(" · "));
    const op = m.muted ? "conference.unmute" : "conference.mute";
    row.mute.dataset.op = op;
    setText(row.mute, t(m.muted ? "unmute" : "mute"));
    row.mute.setAttribute("aria-pressed", m.muted ? "true" : "false");
    row.mute.disabled = state !== "joined";
    row.drop.disabled = GONE.has(state);
  }

  // ------------------------------------------------------------------ keys

  async _act(button) {
    const { op, room, ext } = button.dataset;
    const params = { conference: room, ...(ext ? { extension: ext } : {}) };
    const label = `${t(OP_LABELS[op])} ${ext || room}`;
    const data = await act(this.client, op, params, { button, label });
    if (op !== "conference.end") this.know(data);
  }

  async _add(form) {
    const room = form.dataset.room;
    const input = form.elements.extensions;
    const extensions = parseExtensions(input.value);
    const button = form.querySelector("button[type=submit]");
    const data = await act(this.client, "conference.add", { conference: room, extensions },
      { button, label: `${t("add")} ${room}` });
    if (data) {
      input.value = "";
      this.know(data);
    }
  }
}

const OP_LABELS = {
  "conference.mute": "mute",
  "conference.unmute": "unmute",
  "conference.drop": "drop",
  "conference.end": "end_conference",
};

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
