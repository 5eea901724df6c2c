// The Hotline WebSocket client (DESIGN.md §3.1): login, topics, commands with replies,
// and reconnection with backoff that loses nothing (`resume` {last_eid}, and a
// `snapshot` when the server no longer keeps what was missed).

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10000;

export class CommandError extends Error {
  constructor(op, code, message) {
    super(message);
    this.op = op;
    this.code = code;
  }
}

export class HotlineClient {
  // handlers: {onEvent(event, arrivedAt), onSnapshot(data), onStatus(status, detail),
  //            onSession(loginReply), onAuthFailed(error)}
  constructor({ url, token, extension, topics, handlers }) {
    this.url = url;
    this.token = token;
    this.extension = extension || null;
    this.topics = topics;
    this.handlers = handlers;
    this.lastEid = 0;
    this.lastSeq = 0;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, op}
    this.ws = null;
    this.backoff = BACKOFF_FIRST_MS;
    this.stopped = false;
    this.reconnectTimer = null;
    this.connects = 0;
    // Events held while a session is set up; null once it is (see _session).
    this.held = null;
  }

  start() {
    this.stopped = false;
    this._connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    if (this.ws) this.ws.close(1000, "bye");
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.ready;
  }

  // Send one command; resolves with the reply's data, rejects with a CommandError
  // carrying the server's code and message.
  command(op, params = {}) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new CommandError(op, "disconnected", "not connected to the server"));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, op });
      ws.send(JSON.stringify({ op, id, ...params }));
    });
  }

  _connect() {
    this.ready = false;
    this.handlers.onStatus("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (error) {
      this._scheduleReconnect(String(error));
      return;
    }
    this.ws = ws;
    this.lastSeq = 0;
    ws.onopen = () => this._session(ws);
    ws.onmessage = (msg) => this._frame(msg.data, performance.now());
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      this._failPending("disconnected", `connection closed (${ev.code})`);
      if (!this.stopped) this._scheduleReconnect(`closed ${ev.code} ${ev.reason || ""}`.trim());
    };
  }

  _scheduleReconnect(detail) {
    const delay = this.backoff * (0.75 + Math.random() * 0.5);
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    this.handlers.onStatus("reconnecting", { detail, delayMs: Math.round(delay) });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this._connect(), delay);
  }

  async _session(ws) {
    // The subscription is live from login, so live events can overtake the ones resume
    // replays (older eids, sent before its reply): hold them all until the reply, then
    // apply in eid order. Dropping the late older ones, or applying them late, would
    // lose or undo what the console missed.
    this.held = [];
    try {
      const login = await this.command("login", {
        token: this.token,
        ...(this.extension ? { extension: this.extension } : {}),
      });
      await this.command("subscribe", { topics: this.topics });
      this.handlers.onSession(login);
      if (this.lastEid > 0) {
        try {
          await this.command("resume", { last_eid: this.lastEid });
        } catch (error) {
          if (error.code !== "resume_gap") throw error;
          await this._snapshot();
        }
      } else {
        await this._snapshot();
      }
      if (ws !== this.ws) return;
      this._release();
      this.backoff = BACKOFF_FIRST_MS;
      this.connects += 1;
      this.ready = true;
      this.handlers.onStatus("connected");
    } catch (error) {
      if (ws !== this.ws) return;
      // Not applied, so lastEid still points before them: the next resume replays them.
      this.held = null;
      if (error.code === "unauthenticated") {
        this.stopped = true;
        this.handlers.onAuthFailed(error);
        ws.close(1000, "logged out");
        return;
      }
      this.handlers.onStatus("error", { detail: `${error.op}: ${error.message}` });
      ws.close(4001, "session setup failed");
    }
  }

  async _snapshot() {
    const data = await this.command("snapshot", { topics: this.topics });
    // Events before the reply are older than the snapshot (one ordered stream).
    this.lastEid = Math.max(this.lastEid, data.last_eid || 0);
    this.handlers.onSnapshot(data);
  }

  _frame(text, arrivedAt) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === "reply") {
      const waiter = this.pending.get(frame.id);
      if (!waiter) return;
      this.pending.delete(frame.id);
      if (frame.ok) waiter.resolve(frame.data);
      else waiter.reject(new CommandError(waiter.op, frame.error.code, frame.error.message));
      return;
    }
    if (frame.type !== "event") return;
    if (this.lastSeq && frame.seq !== this.lastSeq + 1) {
      // A gap on one connection should never happen: rebuild from a snapshot.
      this.lastSeq = frame.seq;
      this._snapshot().catch(() => {});
    }
    this.lastSeq = frame.seq;
    if (this.held) {
      this.held.push(frame);
      return;
    }
    this._apply(frame, arrivedAt);
  }

  _apply(frame, arrivedAt) {
    if (frame.eid <= this.lastEid) return; // already seen, or in the snapshot
    this.lastEid = frame.eid;
    this.handlers.onEvent(frame, arrivedAt);
  }

  // The held events after the resume point (or the snapshot's last_eid), oldest first;
  // shown now, so that is when they arrived for the latency meter.
  _release() {
    const held = this.held;
    this.held = null;
    held.sort((a, b) => a.eid - b.eid);
    const now = performance.now();
    for (const frame of held) this._apply(frame, now);
  }

  _failPending(code, message) {
    for (const [, waiter] of this.pending) {
      waiter.reject(new CommandError(waiter.op, code, message));
    }
    this.pending.clear();
  }
}
