// The transcript beside the player: one link per segment (a click seeks there), the segment
// being played highlighted and kept in view, a filter-free list that reads well aloud.
import { describeError, transcript } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { momentLink } from "./moments.js";

export class TranscriptPanel {
  constructor(videoId, video) {
    this.videoId = videoId;
    this.video = video;
    this.segments = [];
    this.items = [];
    this.active = -1;
    this.list = h("ol", { class: "transcript-lines" });
    this.note = h("p", { class: "hint" }, "The transcript appears here once the speech is transcribed.");
    this.element = h(
      "section",
      { class: "panel transcript", "aria-labelledby": "transcript-title" },
      h("h2", { id: "transcript-title" }, "Transcript"),
      this.note,
      this.list,
    );
    this.onTime = () => this.highlight(this.video.currentTime);
    video.addEventListener("timeupdate", this.onTime);
    video.addEventListener("seeked", this.onTime);
  }

  destroy() {
    this.video.removeEventListener("timeupdate", this.onTime);
    this.video.removeEventListener("seeked", this.onTime);
  }

  async load() {
    try {
      const data = await transcript(this.videoId);
      this.segments = data.segments || [];
    } catch (error) {
      this.note.textContent = `The transcript could not be loaded: ${describeError(error)}`;
      return;
    }
    this.note.textContent = this.segments.length ? "" : "No speech was found in this video.";
    this.note.hidden = this.segments.length > 0;
    this.items = this.segments.map((segment) =>
      h(
        "li",
        { "data-start": segment.start },
        momentLink(this.videoId, segment.start, undefined, { class: "time" }),
        h("span", { class: "text" }, segment.text.trim()),
      ),
    );
    // The whole line is the click target; the time link inside keeps keyboard focus and the URL.
    for (const item of this.items) {
      item.addEventListener("click", (event) => {
        if (event.target.closest("a")) return;
        item.querySelector("a").click();
      });
    }
    replaceChildren(this.list, this.items);
    this.active = -1;
    this.highlight(this.video.currentTime);
  }

  /** Mark the segment at `time` (the last one starting at or before it) as current. */
  highlight(time) {
    const index = this.indexAt(time);
    if (index === this.active) return;
    if (this.active >= 0) {
      this.items[this.active].classList.remove("current");
      this.items[this.active].removeAttribute("aria-current");
    }
    this.active = index;
    if (index < 0) return;
    const item = this.items[index];
    item.classList.add("current");
    item.setAttribute("aria-current", "true");
    this.scrollIntoView(item);
  }

  indexAt(time) {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.segments[mid].start <= time + 0.05) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found >= 0 && time > this.segments[found].end + 1 && found === this.segments.length - 1) return -1;
    return found;
  }

  /** Scroll the list (not the page) so the current line is visible. */
  scrollIntoView(item) {
    const list = this.list;
    const top = item.offsetTop; // the list is the offset parent (position: relative)
    if (top < list.scrollTop || top + item.offsetHeight > list.scrollTop + list.clientHeight) {
      list.scrollTo({ top: Math.max(0, top - list.clientHeight / 3), behavior: "smooth" });
    }
  }
}
