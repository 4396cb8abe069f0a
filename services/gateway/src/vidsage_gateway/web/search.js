// Search: the library-wide results view (#/search?q=...) and the hit list the video view reuses.
import { describeError, links, search } from "./api.js";
import { formatTime, h, replaceChildren } from "./dom.js";
import { momentHref, momentLink } from "./moments.js";

/** Text with every occurrence of the query's words marked (as <mark> elements, never as HTML). */
export function highlighted(text, q) {
  const words = q
    .toLowerCase()
    .split(/\W+/u)
    .filter((w) => w.length > 2);
  if (!words.length) return [text];
  const pattern = new RegExp(
    `(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`,
    "giu",
  );
  return text.split(pattern).map((part, i) => (i % 2 ? h("mark", {}, part) : part));
}

/** Hits within one video: each a link that seeks the player. */
export function hitList(hits, q) {
  return h(
    "ol",
    { class: "hits" },
    hits.map((hit) =>
      h(
        "li",
        { class: "hit" },
        momentLink(hit.video_id, hit.start, formatTime(hit.start), { class: "time" }),
        h("span", { class: "text" }, highlighted(hit.text, q)),
      ),
    ),
  );
}

export class SearchView {
  constructor(q) {
    this.q = q;
    this.title = `Search: ${q}`;
    this.status = h("p", { role: "status" }, "Searching…");
    this.results = h("div");
    this.element = h(
      "div",
      { class: "search-view" },
      h("h1", { tabindex: -1 }, "Results for ", h("q", {}, q)),
      h("section", { class: "panel" }, this.status, this.results),
    );
    this.run();
  }

  destroy() {}

  async run() {
    if (!this.q) {
      this.status.textContent = "Type something to search for.";
      return;
    }
    let hits;
    try {
      hits = (await search(this.q, { limit: 20 })).hits;
    } catch (error) {
      this.status.textContent = `The search failed: ${describeError(error)}`;
      return;
    }
    this.status.textContent = hits.length
      ? `${hits.length} moment${hits.length === 1 ? "" : "s"} found.`
      : "Nothing matched. Videos are searchable once they are ready.";
    replaceChildren(
      this.results,
      h(
        "ol",
        { class: "hits library-hits" },
        hits.map((hit) =>
          h(
            "li",
            { class: "hit" },
            h(
              "a",
              { href: momentHref(hit.video_id, hit.start), class: "hit-link" },
              h("img", {
                src: links.thumbnail(hit.video_id),
                alt: "",
                loading: "lazy",
                width: 160,
                height: 90,
              }),
              h(
                "span",
                { class: "hit-body" },
                h(
                  "span",
                  { class: "hit-title" },
                  hit.filename,
                  " · ",
                  h("span", { class: "time" }, formatTime(hit.start)),
                ),
                h("span", { class: "text" }, highlighted(hit.text, this.q)),
              ),
            ),
          ),
        ),
      ),
    );
  }
}
