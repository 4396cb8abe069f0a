// The library view (#/): the upload panel and every video, newest first, with live status.
import { describeError, links, listVideos, videoStatus } from "./api.js";
import { formatBytes, formatTime, h, replaceChildren } from "./dom.js";
import { Poller } from "./poller.js";
import { hasThumbnail, isProcessing, statusBlock } from "./status.js";
import { UploadPanel } from "./upload.js";

const PAGE_SIZE = 24;

export class LibraryView {
  constructor() {
    this.title = "Library";
    this.records = new Map(); // id -> record, in display order (newest first)
    this.cards = new Map(); // id -> VideoCard
    this.cursor = null;
    this.poller = new Poller(() => this.refresh(), 1500);
    this.upload = new UploadPanel((record) => this.add(record));
    this.list = h("ul", { class: "video-grid", "aria-label": "Videos" });
    this.empty = h("p", { class: "empty", hidden: true }, "No videos yet. Upload one to begin.");
    this.error = h("p", { class: "error", role: "alert", hidden: true });
    this.more = h("button", { type: "button", hidden: true, onclick: () => this.loadMore() }, "Show more");
    this.element = h(
      "div",
      { class: "library" },
      h("h1", { tabindex: -1 }, "Library"),
      this.upload.element,
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
    this.poller.stop();
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

  /** A video uploaded from this page: show it first and follow it. */
  add(record) {
    this.put(record, { append: false });
    this.update();
  }

  /** One poll: the status of every video still being processed. */
  async refresh() {
    const busy = [...this.records.values()].filter(isProcessing);
    const results = await Promise.allSettled(busy.map((record) => videoStatus(record.id)));
    results.forEach((result, i) => {
      if (result.status === "fulfilled") this.put(result.value);
      else if (result.reason && result.reason.status === 404) this.remove(busy[i].id);
    });
    return [...this.records.values()].some(isProcessing);
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
    this.empty.hidden = this.records.size > 0;
    if ([...this.records.values()].some(isProcessing)) this.poller.start();
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
