// One DOM update per animation frame: events only mark what changed; the frame
// callback renders each changed thing once, however many events touched it.
// It also measures what the console promises: frame time and event-to-paint latency.

const KEEP = 20000; // samples kept for the metrics

class Samples {
  constructor() {
    this.values = [];
  }
  push(v) {
    if (this.values.length >= KEEP) this.values.shift();
    this.values.push(v);
  }
  clear() {
    this.values = [];
  }
}

export const metrics = {
  latency: new Samples(), // ms from an event's arrival to the frame after it was drawn
  // ms from the server's timestamp of the event to that frame: also counts the time a
  // message waits in the browser before its handler runs (a busy page queues them).
  // Only meaningful where the browser and the server share a clock (the benchmark).
  sendToPaint: new Samples(),
  frames: new Samples(), // ms between animation frames (while the meter runs)
  events: 0,
  renders: 0,
  lastPaintAt: null, // Date.now() of the last frame that timed an event's paint
  reset() {
    this.latency.clear();
    this.sendToPaint.clear();
    this.frames.clear();
    this.events = 0;
    this.renders = 0;
    this.lastPaintAt = null;
  },
  summary() {
    return { latency_ms: stats(this.latency.values), frame_ms: stats(this.frames.values),
      events: this.events, renders: this.renders };
  },
};

export function stats(values) {
  if (!values.length) return { n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted.at(-1) };
}

export class FrameBatcher {
  constructor() {
    this.jobs = new Map(); // key -> render function (the last one wins)
    this.arrivals = []; // [arrival, sent] times of the events rendered in the coming frame
    this.drawn = []; // [arrival, sent] times of the events drawn in the last frame
    this.scheduled = false;
    this._frame = (ts) => this._run(ts);
  }

  // Render `fn` in the next frame; a later job with the same key replaces it.
  schedule(key, fn) {
    this.jobs.set(key, fn);
    this._request();
  }

  // An event arrived at `arrivedAt` (performance.now()); its effect is in the next frame.
  // `sentAt`: the server's timestamp on the same time base, null if unknown.
  arrived(arrivedAt, sentAt = null) {
    metrics.events += 1;
    this.arrivals.push([arrivedAt, sentAt]);
    this._request();
  }

  _request() {
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(this._frame);
    }
  }

  _run(ts) {
    this.scheduled = false;
    const now = performance.now();
    // The previous frame has been painted by the time this one starts: an upper bound
    // of its events' arrival-to-paint latency.
    if (this.drawn.length) metrics.lastPaintAt = Date.now();
    for (const [arrived, sent] of this.drawn) {
      metrics.latency.push(now - arrived);
      if (sent !== null) metrics.sendToPaint.push(now - sent);
    }
    this.drawn = this.arrivals;
    this.arrivals = [];
    const jobs = this.jobs;
    this.jobs = new Map();
    for (const fn of jobs.values()) fn();
    if (jobs.size) metrics.renders += 1;
    if (this.drawn.length) this._request(); // one more frame to time the paint
  }
}

export const frames = new FrameBatcher();

// Frame time: a rAF loop that records the interval between frames; a long task (a
// slow render) shows as a long interval. Runs only while measuring.
let meterOn = false;
export function frameMeter(on) {
  if (on === meterOn) return;
  meterOn = on;
  if (!on) return;
  let last = 0;
  const tick = (ts) => {
    if (!meterOn) return;
    if (last) metrics.frames.push(ts - last);
    last = ts;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}
