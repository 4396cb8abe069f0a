// The library view (#/): the upload panel and every video, newest first, with live status.
import { describeError, links, listVideos, videoStatus } from "./api.js";
import { ChatPanel } from "./chat.js";
import { formatBytes, formatTime, h, replaceChildren } from "./dom.js";
import { LIVE_POLL_MS, LiveStatus, withProgress } from "./live.js";
import { Poller } from "./poller.js";
import { hasThumbnail, isProcessing, statusBlock } from "./status.js";
import { uploadPanel } from "./upload.js";

const PAGE_SIZE = 24;

export class LibraryView {
  constructor() {
    this.title = "Library";
    this.records = new Map(); // id -> latest record
    this.cards = new Map(); // id -> VideoCard
    this.cursor = null;
    this.poller = new Poller(() => this.refresh(), 1500);
    this.live = new LiveStatus(
      links.events(),
      (frame) => this.onFrame(frame),
      () => this.update(),
    );
    this.live.start();
    this.upload = uploadPanel();
    this.upload.onUploaded = (record) => this.add(record);
    this.chat = new ChatPanel(null, {
      title: "Ask the library",
      placeholder: "Ask about all your videos",
      videoName: (id) => (this.records.has(id) ? this.records.get(id).filename : null),
    });
    this.list = h("ul", { class: "video-grid", "aria-label": "Videos" });
    this.empty = h("p", { class: "empty", hidden: true }, "No videos yet. Upload one to begin.");
    this.error = h("p", { class: "error", role: "alert", hidden: true });
    this.more = h("button", { type: "button", hidden: true, onclick: () => this.loadMore() }, "Show more");
    this.element = h(
      "div",
      { class: "library" },
      h("h1", { tabindex: -1 }, "Library"),
      h("div", { class: "library-top" }, this.upload.element, this.chat.element),
      h(
        "section",
        { class: "panel", "aria-labelledby": "videos-title" },
        h("h2", { id: "videos-title" }, "Videos"),
        this.error,
        this.empty,
        this.list,
        this.more,
      ),
    );
    this.loadMore();
  }

  destroy() {
    this.destroyed = true;
    this.upload.onUploaded = () => {};
    this.live.stop();
    this.poller.stop();
    this.chat.destroy();
  }

  async loadMore() {
    this.more.disabled = true;
    try {
      const page = await listVideos({ limit: PAGE_SIZE, cursor: this.cursor });
      this.showError(null);
      for (const record of page.items) this.put(record, { append: true });
      this.cursor = page.next_cursor;
      this.more.hidden = !this.cursor;
    } catch (error) {
      this.showError(`The videos could not be listed: ${describeError(error)}`);
    } finally {
      this.more.disabled = false;
      this.update();
    }
  }

  /** A video uploaded from this page: show it first and follow it closely. */
  add(record) {
    if (!this.records.has(record.id)) this.put(record, { append: false });
    this.update();
    this.poller.restart();
  }

  /**
   * One poll: the first page again (videos uploaded anywhere appear at the top, deleted ones go,
   * statuses change), plus the status of each video still processing further down. Every 1.5 s
   * while anything is processing, every 5 s otherwise; nothing while the tab is hidden.
   */
  async refresh() {
    if (document.hidden) return true;
    const knownBefore = [...this.records.keys()]; // not one uploaded while the list was on its way
    let page;
    try {
      page = await listVideos({ limit: PAGE_SIZE });
    } catch (error) {
      this.showError(`Live updates paused: ${describeError(error)}`);
      return true;
    }
    this.showError(null);
    const fresh = page.items.filter((record) => !this.records.has(record.id));
    for (const record of fresh.reverse()) this.put(record, { append: false });
    for (const record of page.items) this.put(record);
    const onPage = new Set(page.items.map((record) => record.id));
    // Ids sort by creation time and the list is newest first: a known id within the page's range
    // that the page no longer holds was deleted.
    const oldest = page.next_cursor ? page.items[page.items.length - 1].id : "";
    for (const id of knownBefore) if (!onPage.has(id) && id >= oldest) this.remove(id);
    const busy = [...this.records.values()].filter(
      (record) => isProcessing(record) && !onPage.has(record.id),
    );
    const results = await Promise.allSettled(busy.map((record) => videoStatus(record.id)));
    results.forEach((result, i) => {
      if (result.status === "fulfilled") this.put(result.value);
      else if (result.reason && result.reason.status === 404) this.remove(busy[i].id);
    });
    this.update();
    return true;
  }

  /** A live status frame: progress is shown at once, anything else refreshes the list. */
  onFrame(frame) {
    if (this.destroyed) return;
    if (frame.type === "progress") {
      const record = this.records.get(frame.video_id);
      if (record) this.put(withProgress(record, frame));
      return;
    }
    this.poller.soon();
  }

  put(record, { append = true } = {}) {
    this.records.set(record.id, record);
    const known = this.cards.get(record.id);
    if (known) {
      known.update(record);
      return;
    }
    const card = new VideoCard(record);
    this.cards.set(record.id, card);
    if (append) this.list.append(card.element);
    else this.list.prepend(card.element);
  }

  remove(id) {
    const card = this.cards.get(id);
    if (card) card.element.remove();
    this.cards.delete(id);
    this.records.delete(id);
    this.update();
  }

  update() {
    if (this.destroyed) return; // a late answer for a view no longer shown
    this.empty.hidden = this.records.size > 0;
    const records = [...this.records.values()];
    this.poller.intervalMs = this.live.live ? LIVE_POLL_MS : records.some(isProcessing) ? 1500 : 5000;
    this.poller.start();
    const anyReady = records.some((record) => record.status === "ready");
    this.chat.setEnabled(anyReady, anyReady ? "" : "Chat opens once a video is ready.");
  }

  showError(text) {
    this.error.hidden = !text;
    this.error.textContent = text || "";
  }
}

/** One video in the grid; `update` changes only what changed (the picture is not reloaded). */
class VideoCard {
  constructor(record) {
    const href = `#/videos/${encodeURIComponent(record.id)}`;
    this.picture = h("a", { href, class: "thumb-link", tabindex: -1, "aria-hidden": "true" });
    this.status = h("div");
    this.element = h(
      "li",
      { class: "video-card", "data-video-id": record.id },
      this.picture,
      h("h3", { class: "video-name" }, h("a", { href }, record.filename)),
      h("p", { class: "video-meta" }, [formatTime(record.duration_s), formatBytes(record.size)].join(" · ")),
      this.status,
    );
    this.thumbnailShown = null;
    this.update(record);
  }

  update(record) {
    if (record.updated_at === this.updatedAt) return;
    this.updatedAt = record.updated_at;
    this.element.dataset.status = record.status;
    const thumbnail = hasThumbnail(record);
    if (thumbnail !== this.thumbnailShown) {
      this.thumbnailShown = thumbnail;
      replaceChildren(
        this.picture,
        thumbnail
          ? h("img", { src: links.thumbnail(record.id), alt: "", loading: "lazy", width: 320, height: 180 })
          : h("span", { class: "thumb-placeholder" }, "▶"),
      );
    }
    const block = statusBlock(record);
    this.status.replaceWith(block);
    this.status = block;
  }
}
