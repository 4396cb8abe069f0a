// The video view (#/videos/<id>?t=12.5): the player streaming from the range endpoint with
// subtitles, the transcript beside it, downloads, delete, search within the video, and chat.
import { deleteVideo, describeError, links, search, shareLinks, videoStatus } from "./api.js";
import { announce, formatBytes, formatTime, h, replaceChildren } from "./dom.js";
import { ChatPanel } from "./chat.js";
import { seek } from "./moments.js";
import { LIVE_POLL_MS, LiveStatus, withProgress } from "./live.js";
import { Poller } from "./poller.js";
import { hitList } from "./search.js";
import { hasTranscript, isProcessing, statusBlock, statusText } from "./status.js";
import { TranscriptPanel } from "./transcript.js";

export class VideoView {
  constructor(videoId, { t = null } = {}) {
    this.videoId = videoId;
    this.title = "Video";
    this.record = null;
    this.transcriptShown = false;
    this.heading = h("h1", { tabindex: -1 }, "Loading…");
    this.element = h("div", { class: "video-view" }, this.heading);
    this.poller = new Poller(() => this.refresh(), 1500);
    this.live = new LiveStatus(
      links.events(videoId),
      (frame) => this.onFrame(frame),
      (live) => {
        this.poller.intervalMs = live ? LIVE_POLL_MS : 1500;
      },
    );
    this.onClick = (event) => this.seekLink(event);
    this.element.addEventListener("click", this.onClick);
    this.pendingSeek = t;
    this.load();
  }

  destroy() {
    this.destroyed = true;
    this.live.stop();
    this.poller.stop();
    if (this.transcript) this.transcript.destroy();
    if (this.chat) this.chat.destroy();
    if (this.video) {
      this.video.pause();
      this.video.removeAttribute("src");
      this.video.load(); // let go of the connection
    }
  }

  /** The router calls this when only the moment changed (#/videos/<id>?t=...). */
  update({ t = null } = {}) {
    if (t === null) return;
    if (this.video) seek(this.video, t);
    else this.pendingSeek = t;
  }

  async load() {
    try {
      this.record = await videoStatus(this.videoId);
    } catch (error) {
      if (this.destroyed) return;
      this.heading.textContent = error.status === 404 ? "Video not found" : "This video could not be loaded";
      this.element.append(
        h("p", { class: "error", role: "alert" }, describeError(error)),
        h("p", {}, h("a", { href: "#/" }, "Back to the library")),
      );
      return;
    }
    if (this.destroyed) return; // the user went elsewhere meanwhile
    this.render();
    this.show(this.record);
    if (isProcessing(this.record)) {
      this.live.start();
      this.poller.start();
    }
  }

  /** A live status frame: progress is shown at once, a status change or deletion refreshes. */
  onFrame(frame) {
    if (this.destroyed || !this.record) return;
    if (frame.type === "progress") {
      if (isProcessing(this.record)) this.show(withProgress(this.record, frame));
      return;
    }
    if (isProcessing(this.record) && !this.deleting) this.poller.soon();
  }

  render() {
    const record = this.record;
    this.title = record.filename;
    document.title = `${record.filename} · vidsage`;
    this.heading.textContent = record.filename;
    this.video = h("video", {
      id: "player",
      controls: true,
      preload: "metadata",
      playsinline: true,
      src: links.stream(record.id),
      "aria-label": record.filename,
    });
    this.status = h("div");
    this.transcript = new TranscriptPanel(record.id, this.video);
    this.chat = new ChatPanel(record.id);
    this.downloads = h("p", { class: "downloads" });
    this.searchBox = this.renderSearch();
    const details = [formatTime(record.duration_s), formatBytes(record.size)];
    if (record.width && record.height) details.push(`${record.width}×${record.height}`);
    this.element.append(
      h(
        "div",
        { class: "video-layout" },
        h(
          "div",
          { class: "video-main" },
          h("div", { class: "player-frame" }, this.video),
          h(
            "div",
            { class: "video-info" },
            h("p", { class: "video-meta" }, details.join(" · ")),
            this.status,
            this.downloads,
            this.renderShare(),
            h(
              "button",
              { type: "button", class: "danger", onclick: () => this.confirmDelete() },
              "Delete video…",
            ),
          ),
          this.searchBox,
        ),
        h("div", { class: "video-side" }, this.transcript.element, this.chat.element),
      ),
      this.renderDeleteDialog(),
    );
    if (this.pendingSeek !== null) {
      seek(this.video, this.pendingSeek);
      this.pendingSeek = null;
    }
  }

  /** "Share a link": a signed URL of the video (1 h), playable without signing in. */
  renderShare() {
    const output = h("input", {
      id: "share-link",
      type: "text",
      readonly: true,
      hidden: true,
      "aria-label": "Link to share",
    });
    const note = h("p", { class: "hint", hidden: true });
    const button = h(
      "button",
      {
        type: "button",
        id: "share",
        onclick: async () => {
          button.disabled = true;
          try {
            const made = await shareLinks(this.videoId, 3600);
            const time = this.video ? this.video.currentTime : 0;
            const at = time > 1 ? `#t=${time.toFixed(1)}` : "";
            output.value = `${location.origin}${made.stream}${at}`;
            output.hidden = false;
            const until = new Date(made.expires_at).toLocaleString();
            note.textContent = `Anyone with this link can watch this video until ${until}.`;
            note.hidden = false;
            output.select();
          } catch (error) {
            note.textContent = `No link: ${describeError(error)}`;
            note.hidden = false;
          } finally {
            button.disabled = false;
          }
        },
      },
      "Share a link (1 h)",
    );
    return h("div", { class: "share" }, button, output, note);
  }

  /** Show a (new) record: status line, and the transcript, subtitles and chat once they exist. */
  show(record) {
    this.record = record;
    const block = statusBlock(record);
    this.status.replaceWith(block);
    this.status = block;
    if (hasTranscript(record) && !this.transcriptShown) {
      this.transcriptShown = true;
      this.video.append(
        h("track", {
          kind: "subtitles",
          label: `Transcript (${record.language || "auto"})`,
          srclang: record.language || "en",
          src: links.transcript(record.id, "vtt"),
          default: true,
        }),
      );
      this.transcript.load();
      replaceChildren(
        this.downloads,
        "Download the transcript: ",
        ["srt", "vtt", "txt"].map((format, i) => [
          i ? " · " : "",
          h(
            "a",
            { href: links.transcript(record.id, format), download: `${stem(record.filename)}.${format}` },
            format.toUpperCase(),
          ),
        ]),
      );
    }
    const ready = record.status === "ready";
    this.searchInput.disabled = !ready;
    this.searchButton.disabled = !ready;
    if (ready) this.chat.setEnabled(true, "");
    else if (record.status === "failed")
      this.chat.setEnabled(false, "Chat is not available: processing failed.");
  }

  async refresh() {
    try {
      const record = await videoStatus(this.videoId);
      const before = this.record.status;
      this.show(record);
      if (!isProcessing(record)) this.live.stop();
      if (before !== record.status) announce(`${record.filename}: ${statusText(record)}`);
      return isProcessing(record);
    } catch (error) {
      if (error.status === 404) {
        this.heading.textContent = "This video was deleted";
        return false;
      }
      return true;
    }
  }

  renderSearch() {
    this.searchInput = h("input", {
      id: "video-search-input",
      type: "search",
      name: "q",
      maxlength: 500,
      placeholder: "Find a moment in this video",
      autocomplete: "off",
      required: true,
    });
    this.searchButton = h("button", { type: "submit" }, "Find");
    this.searchResults = h("div", { class: "video-hits", "aria-live": "polite" });
    return h(
      "section",
      { class: "panel video-search", "aria-labelledby": "video-search-title" },
      h("h2", { id: "video-search-title" }, "Search this video"),
      h(
        "form",
        { role: "search", class: "inline-form", onsubmit: (event) => this.searchVideo(event) },
        h("label", { for: "video-search-input", class: "visually-hidden" }, "Search this video"),
        this.searchInput,
        this.searchButton,
      ),
      this.searchResults,
    );
  }

  async searchVideo(event) {
    event.preventDefault();
    const q = this.searchInput.value.trim();
    if (!q) return;
    replaceChildren(this.searchResults, h("p", {}, "Searching…"));
    try {
      const { hits } = await search(q, { videoId: this.videoId, limit: 10 });
      replaceChildren(this.searchResults, hits.length ? hitList(hits, q) : h("p", {}, "No moment matched."));
    } catch (error) {
      replaceChildren(
        this.searchResults,
        h("p", { class: "error" }, `The search failed: ${describeError(error)}`),
      );
    }
  }

  /** Links to a moment of this video seek the player in place (and keep the URL shareable). */
  seekLink(event) {
    const link = event.target.closest("a[data-t]");
    if (!link || link.dataset.videoId !== this.videoId || !this.video) return;
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    history.replaceState(null, "", link.getAttribute("href"));
    seek(this.video, Number(link.dataset.t));
  }

  renderDeleteDialog() {
    this.dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "delete-title" },
      h("h2", { id: "delete-title" }, "Delete this video?"),
      h(
        "p",
        {},
        "The video, its thumbnail, transcript and search entries are removed. This cannot be undone.",
      ),
      h(
        "form",
        { method: "dialog", class: "dialog-buttons" },
        h("button", { value: "cancel", autofocus: true }, "Cancel"),
        h("button", { value: "delete", class: "danger" }, "Delete"),
      ),
    );
    this.dialog.addEventListener("close", () => {
      if (this.dialog.returnValue === "delete") this.remove();
    });
    return this.dialog;
  }

  confirmDelete() {
    this.dialog.returnValue = "";
    this.dialog.showModal();
  }

  async remove() {
    this.deleting = true;
    this.live.stop();
    await this.poller.stopAndWait(); // no status poll may race the delete (it would get a 404)
    try {
      await deleteVideo(this.videoId);
    } catch (error) {
      this.element.append(h("p", { class: "error", role: "alert" }, `Not deleted: ${describeError(error)}`));
      this.deleting = false;
      if (isProcessing(this.record)) this.poller.start();
      return;
    }
    announce(`${this.record.filename} was deleted`);
    location.hash = "#/";
  }
}

function stem(filename) {
  const dot = filename.lastIndexOf(".");
  return dot > 0 ? filename.slice(0, dot) : filename;
}
