// Repeat an async task every `intervalMs` while it asks to go on. Never two runs at once; a
// failed run is retried at the next tick (the task shows its own error).

export class Poller {
  constructor(task, intervalMs = 1500) {
    this.task = task; // async () => boolean: true to keep polling
    this.intervalMs = intervalMs;
    this.timer = null;
    this.running = false;
    this.stopped = true;
    this.requested = false;
    this.current = Promise.resolve(); // the run in progress (or the last one)
  }

  /** Start, or make sure a run is scheduled (idempotent). */
  start({ now = false } = {}) {
    this.stopped = false;
    if (this.running) this.requested = true;
    if (this.running || this.timer !== null) return;
    this.timer = setTimeout(() => this.tick(), now ? 0 : this.intervalMs);
  }

  /** Run again soon with the current interval (e.g. after it was shortened). */
  restart() {
    if (this.running) {
      this.requested = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = null;
    this.start();
  }

  /** Run now, or right after the run in progress (something changed: a live status frame). */
  soon() {
    this.stopped = false;
    if (this.running) {
      this.requested = true;
      this.requestedSoon = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), 0);
  }

  /** Stop, and wait for a run in progress to end (its answer is then ignored). */
  async stopAndWait() {
    this.stop();
    await this.current.catch(() => {});
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
  }

  async tick() {
    this.timer = null;
    this.running = true;
    this.requested = false;
    let again = true;
    this.current = this.task();
    try {
      again = await this.current;
    } catch {
      again = true;
    } finally {
      this.running = false;
    }
    const soon = this.requestedSoon;
    this.requestedSoon = false;
    if ((again || this.requested) && !this.stopped)
      this.timer = setTimeout(() => this.tick(), soon ? 0 : this.intervalMs);
  }
}
