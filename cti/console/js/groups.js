// The group panel of the supervisor view: the preset groups (群呼), each started with one
// key, and their editing over the WebSocket (`group.create`, `.update`, `.delete`).
// A delete takes a second press of the same key within a few seconds (no modal dialog,
// so the keyboard stays where it is).

import { parseExtensions } from "./conferences.js";
import { t } from "./i18n.js";
import { $, act, h } from "./ui.js";

const CONFIRM_MS = 4000;

export class GroupPanel {
  // onChanged(groups): the groups after an edit (the lamp field is laid out by them);
  // onCalled(conference): the reply of group.call.
  constructor({ onChanged, onCalled }) {
    this.client = null;
    this.groups = [];
    this.onChanged = onChanged;
    this.onCalled = onCalled;
    this.editing = null; // the name of the group in the form, null for a new one
    this.armed = null; // {name, timer}: a delete waiting for its second press
    $("groups").addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-action]");
      if (button) this._onKey(button);
    });
    $("group-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this._save();
    });
    $("group-cancel").addEventListener("click", () => this._edit(null));
  }

  attach(client) {
    this.client = client;
  }

  setGroups(groups) {
    this.groups = groups.map((g) => ({ name: g.name, extensions: [...g.extensions], description: g.description || "" }));
    this.render();
  }

  render() {
    const list = $("groups");
    if (!this.groups.length) {
      list.replaceChildren(h("li", { "data-i18n": "no_groups", text: t("no_groups") }));
      return;
    }
    list.replaceChildren(...this.groups.map((g) => h("li", { "data-group": g.name },
      h("button", { type: "button", "data-action": "call", "data-group": g.name }, `${t("group_call")} ${g.name}`),
      h("button", { type: "button", "data-action": "edit", "data-edit": g.name, text: t("edit") }),
      h("button", { type: "button", class: "danger", "data-action": "delete", "data-delete": g.name,
        text: this.armed && this.armed.name === g.name ? t("confirm_delete") : t("delete") }),
      h("span", { class: "members", text: ` ${g.extensions.join(", ")}` }),
      g.description ? h("span", { class: "hint", text: ` — ${g.description}` }) : null)));
    this._renderForm();
  }

  _renderForm() {
    $("group-form-title").textContent = this.editing ? `${t("edit_group")} ${this.editing}` : t("new_group");
    $("group-name").readOnly = this.editing !== null;
    $("group-cancel").hidden = this.editing === null;
  }

  _onKey(button) {
    const action = button.dataset.action;
    if (action === "call") return this._call(button, button.dataset.group);
    if (action === "edit") return this._edit(button.dataset.edit);
    return this._delete(button, button.dataset.delete);
  }

  async _call(button, name) {
    const data = await act(this.client, "group.call", { group: name }, { button, label: `${t("group_call")} ${name}` });
    if (data) this.onCalled(data);
  }

  _edit(name) {
    const group = name === null ? null : this.groups.find((g) => g.name === name);
    this.editing = group ? group.name : null;
    $("group-name").value = group ? group.name : "";
    $("group-extensions").value = group ? group.extensions.join(", ") : "";
    $("group-description").value = group ? group.description : "";
    this._renderForm();
    (group ? $("group-extensions") : $("group-name")).focus();
  }

  async _save() {
    const name = $("group-name").value.trim();
    const params = { name, extensions: parseExtensions($("group-extensions").value),
      description: $("group-description").value.trim() };
    const op = this.editing === null ? "group.create" : "group.update";
    const label = `${t(this.editing === null ? "new_group" : "edit_group")} ${name}`;
    const data = await act(this.client, op, params, { button: $("group-save"), label });
    if (!data) return;
    const others = this.groups.filter((g) => g.name !== data.name);
    this._changed([...others, data].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
    this._edit(null);
  }

  async _delete(button, name) {
    if (!this.armed || this.armed.name !== name) {
      this._disarm();
      this.armed = { name, timer: setTimeout(() => this._disarm(true), CONFIRM_MS) };
      button.textContent = t("confirm_delete");
      return;
    }
    this._disarm();
    const data = await act(this.client, "group.delete", { name }, { button, label: `${t("delete")} ${name}` });
    if (data) this._changed(this.groups.filter((g) => g.name !== name));
    else this.render();
  }

  _disarm(redraw = false) {
    if (this.armed) clearTimeout(this.armed.timer);
    const was = this.armed;
    this.armed = null;
    if (redraw && was) {
      const button = $("groups").querySelector(`button[data-delete="${CSS.escape(was.name)}"]`);
      if (button) button.textContent = t("delete");
    }
  }

  _changed(groups) {
    this.setGroups(groups);
    this.onChanged(this.groups);
  }
}
