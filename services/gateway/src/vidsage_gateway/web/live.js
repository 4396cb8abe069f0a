// Live status from the gateway's Server-Sent Events streams (GET /api/events, one video's
// /api/videos/<id>/events), with polling as the fallback: while a stream is open the views poll
// only rarely (a safety net) and refresh when a frame says something changed; when the browser has
// no EventSource, or the gateway refuses the stream (an older gateway, too many streams, signed
// out), or the stream drops, `onLive(false)` tells the view to poll at its usual pace again.
// EventSource reconnects by itself with Last-Event-ID, so nothing that happens meanwhile is missed.

export const LIVE_POLL_MS = 30000;

export class LiveStatus {
  /**
   * @param {string} url the stream
   * @param {(frame: object) => void} onFrame every status, progress, deleted and reset frame (parsed)
   * @param {(live: boolean) => void} onLive whether the stream is open
   */
  constructor(url, onFrame, onLive) {
    this.url = url;
    this.onFrame = onFrame;
    this.onLive = onLive;
    this.source = null;
    this.live = false;
  }

  start() {
    if (this.source || typeof EventSource === "undefined") return;
    const source = new EventSource(this.url);
    this.source = source;
    const take = (event) => {
      try {
        this.onFrame(JSON.parse(event.data));
      } catch {
        // not JSON: not a frame of ours
      }
    };
    for (const type of ["status", "progress", "deleted", "reset"]) source.addEventListener(type, take);
    source.onopen = () => this.setLive(true);
    source.onerror = () => {
      // CLOSED: refused (a JSON error, not a stream) and given up; CONNECTING: retrying by itself
      if (source.readyState === EventSource.CLOSED) {
        this.source = null;
      }
      this.setLive(false);
    };
  }

  setLive(live) {
    if (live === this.live) return;
    this.live = live;
    this.onLive(live);
  }

  stop() {
    if (this.source) this.source.close();
    this.source = null;
    this.live = false;
  }
}

/** `record` with a progress frame's percent on its stage (the status endpoint's shape). */
export function withProgress(record, frame) {
  if (!record || !record.stages || !record.stages[frame.stage]) return record;
  const stages = { ...record.stages, [frame.stage]: { ...record.stages[frame.stage], progress: frame.progress } };
  return { ...record, stages };
}
