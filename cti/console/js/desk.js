// The agent desktop: state (ready / not ready with a reason), the screen-pop card on
// `call.ringing` (customer record or a new-customer form, recent calls), call controls
// and the wrap-up form that ends with `agent.wrap_up_done`.

import { t } from "./i18n.js";
import { $, act, duration, h, noteServerTime, parseTime, serverNow, showError } from "./ui.js";

export const DESK_TOPICS = ["self", "queues"];

export class DeskView {
  constructor({ api }) {
    this.api = api; // REST helper: api(method, path, body) -> JSON
    this.client = null;
    this.me = { agent_id: null, extension: null, state: "logged_out", reason: null, since: null };
    this.call = null; // {call_id, caller, queue, customer, history, state}
    this.wrapCallId = null; // the call the wrap-up form is about
    this.held = false;
    this.ticker = null;
    this._bind();
  }

  attach(client, login) {
    this.client = client;
    this.me.agent_id = login.agent_id;
    this.me.extension = login.extension;
    if (login.state) this.me.state = login.state;
    this._renderState();
    if (!this.ticker) this.ticker = setInterval(() => this._renderSince(), 1000);
  }

  detach() {
    clearInterval(this.ticker);
    this.ticker = null;
    this.client = null;
  }

  _bind() {
    $("btn-ready").addEventListener("click", (ev) => this.ready(ev.currentTarget));
    $("btn-not-ready").addEventListener("click", (ev) => this.notReady(ev.currentTarget));
    $("btn-hold").addEventListener("click", (ev) => this._callOp("call.hold", ev.currentTarget, "hold"));
    $("btn-unhold").addEventListener("click", (ev) => this._callOp("call.unhold", ev.currentTarget, "unhold"));
    $("btn-hangup").addEventListener("click", (ev) => this._callOp("call.hangup", ev.currentTarget, "hang_up"));
    $("btn-blind").addEventListener("click", (ev) => this._transfer("blind", ev.currentTarget));
    $("btn-attended").addEventListener("click", (ev) => this._transfer("attended", ev.currentTarget));
    $("btn-conference").addEventListener("click", (ev) => this._conference(ev.currentTarget));
    $("wrap-up").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this._wrapUp();
    });
    $("new-customer").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this._saveCustomer();
    });
  }

  // Keyboard shortcuts of the desk (the view is visible); true when handled.
  onKey(ev) {
    const keys = {
      F2: () => this.ready($("btn-ready")),
      F3: () => this.notReady($("btn-not-ready")),
      F4: () => (this.held ? $("btn-unhold") : $("btn-hold")).click(),
      F8: () => $("transfer-to").focus(),
      F9: () => $("btn-hangup").click(),
    };
    if (keys[ev.key] && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      keys[ev.key]();
      return true;
    }
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && !$("wrap-fields").disabled) {
      $("wrap-up").requestSubmit();
      return true;
    }
    return false;
  }

  ready(button) {
    return act(this.client, "agent.ready", {}, { button, label: t("ready"), notice: false });
  }

  notReady(button) {
    const reason = $("not-ready-reason").value;
    return act(this.client, "agent.not_ready", { reason }, { button, label: t("not_ready"), notice: false });
  }

  // ------------------------------------------------------------------ events

  onSnapshot(data) {
    const me = (data.agents || []).find((a) => a.agent_id === this.me.agent_id);
    if (me) this._state(me);
  }

  onEvent(frame) {
    const d = frame.data;
    noteServerTime(frame.ts);
    switch (frame.event) {
      case "agent.state":
        if (d.agent_id === this.me.agent_id) this._state(d);
        break;
      case "call.ringing":
        if (d.agent_id !== this.me.agent_id) break;
        this.call = { call_id: d.call_id, caller: d.caller, caller_name: d.caller_name, queue: d.queue,
          customer: d.customer, history: d.history || [], state: d.answered ? "on_call" : "ringing" };
        this.held = false;
        this._renderPop(true);
        break;
      case "call.answered":
        if (this.call && this.call.call_id === d.call_id) {
          this.call.state = "on_call";
          this._renderPop(false);
        }
        break;
      case "call.transferred":
        break;
      case "call.ended":
      case "call.abandoned":
        if (this.call && this.call.call_id === d.call_id) {
          const talked = this.call.state === "on_call";
          this.call.state = "ended";
          if (talked) this._openWrapUp(d.call_id);
          this._renderPop(false);
        }
        break;
      default:
        break;
    }
  }

  _state(a) {
    this.me.state = a.state;
    this.me.reason = a.reason ?? null;
    this.me.since = parseTime(a.since);
    if (a.state === "wrap_up" && this.call && !this.wrapCallId) this._openWrapUp(this.call.call_id);
    this._renderState();
  }

  relabel() {
    this._renderState();
    this._renderPop(false);
  }

  // ------------------------------------------------------------------ rendering

  _renderState() {
    const el = $("my-state");
    el.dataset.state = this.me.state;
    el.textContent = `${this.me.agent_id || ""} · ${t("extension")} ${this.me.extension || "—"} · ${t(`state_${this.me.state}`)}`;
    $("my-reason").textContent = this.me.reason ? `(${this.me.reason})` : "";
    $("btn-ready").disabled = this.me.state === "ready";
    $("btn-not-ready").disabled = this.me.state === "not_ready";
    this._renderSince();
  }

  _renderSince() {
    const text = this.me.since ? duration((serverNow() - this.me.since) / 1000) : "";
    const el = $("my-since");
    if (el.textContent !== text) el.textContent = text;
  }

  _renderPop(fresh) {
    const call = this.call;
    const pop = $("pop");
    pop.dataset.state = call ? call.state : "none";
    $("pop-empty").hidden = !!call;
    $("pop-call").hidden = !call;
    const live = call && (call.state === "ringing" || call.state === "on_call");
    const talking = call && call.state === "on_call";
    $("btn-hangup").disabled = !live;
    for (const id of ["btn-hold", "btn-unhold", "btn-blind", "btn-attended", "btn-conference"]) {
      $(id).disabled = !talking;
    }
    if (!call) return;
    $("pop-caller").textContent = call.caller_name && call.caller_name !== call.caller
      ? `${call.caller} (${call.caller_name})` : call.caller || "";
    $("pop-queue").textContent = call.queue || "";
    $("pop-state").textContent = t(call.state === "ended" ? "done" : `state_${call.state}`);
    if (!fresh) return;
    const c = call.customer;
    $("pop-customer").hidden = !c;
    $("new-customer").hidden = !!c;
    if (c) {
      $("cust-name").textContent = c.name || "";
      $("cust-phones").textContent = (c.phones || []).join(", ");
      $("cust-address").textContent = c.address || "";
      $("cust-notes").textContent = c.notes || "";
    } else {
      $("new-customer").reset();
      $("new-phone").value = call.caller || "";
    }
    const items = call.history.map((r) => h("li", {},
      `${(r.started_at || "").replace("T", " ").slice(0, 19)} · ${r.queue || ""} · ${r.agent_id || "—"} · ${r.disposition || r.outcome || ""}${r.notes ? ` · ${r.notes}` : ""}`));
    $("pop-history").replaceChildren(...(items.length ? items : [h("li", { "data-i18n": "no_history", text: t("no_history") })]));
    // The card takes the focus so that a keyboard user is where the call is.
    $("pop-title").setAttribute("tabindex", "-1");
    $("pop-title").focus();
  }

  _openWrapUp(callId) {
    this.wrapCallId = callId;
    $("wrap-fields").disabled = false;
  }

  // ------------------------------------------------------------------ commands

  async _callOp(op, button, key) {
    if (!this.call) return;
    const data = await act(this.client, op, { call_id: this.call.call_id }, { button, label: t(key) });
    if (data && op === "call.hold") this.held = true;
    if (data && op === "call.unhold") this.held = false;
  }

  _target() {
    const to = $("transfer-to").value.trim();
    if (!/^[0-9]{1,32}$/.test(to)) {
      showError(t("transfer_to"), { code: "invalid_params", message: `to: expected digits, got ${JSON.stringify(to)}` });
      $("transfer-to").focus();
      return null;
    }
    return to;
  }

  async _transfer(mode, button) {
    const to = this._target();
    if (!to || !this.call) return;
    await act(this.client, "call.transfer", { call_id: this.call.call_id, to, mode },
      { button, label: t(mode) });
  }

  async _conference(button) {
    const to = this._target();
    if (!to || !this.call) return;
    await act(this.client, "call.conference", { call_id: this.call.call_id, to }, { button, label: t("conference_to") });
  }

  async _wrapUp() {
    const form = $("wrap-up");
    const disposition = form.elements.disposition.value;
    if (!disposition) {
      showError(t("wrap_up"), { code: "invalid_params", message: `${t("disposition")}: ${t("disp_fault")}/${t("disp_complaint")}/${t("disp_inquiry")}/${t("disp_other")}` });
      return;
    }
    const params = { disposition, resolved: $("wrap-resolved").checked };
    const notes = $("wrap-notes").value.trim();
    if (notes) params.notes = notes;
    if (this.wrapCallId) params.call_id = this.wrapCallId;
    const data = await act(this.client, "agent.wrap_up_done", params, { button: $("wrap-submit"), label: t("wrap_up") });
    if (data) {
      form.reset();
      $("wrap-fields").disabled = true;
      this.wrapCallId = null;
      if (this.call && this.call.state === "ended") {
        this.call = null;
        this._renderPop(false);
      }
    }
  }

  async _saveCustomer() {
    const phone = $("new-phone").value.trim();
    const body = { name: $("new-name").value.trim(), phones: phone ? [phone] : [] };
    const address = $("new-address").value.trim();
    const notes = $("new-notes").value.trim();
    if (address) body.address = address;
    if (notes) body.notes = notes;
    try {
      const customer = await this.api("POST", "/api/customers", body);
      if (this.call) {
        this.call.customer = customer;
        this._renderPop(true);
      }
    } catch (error) {
      showError(t("save_customer"), error);
    }
  }
}
