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

/**
 * A hit's passage with its best-matching sentence (`match_chars`) marked, and the query's words
 * marked in the context around it (all as elements and text, never as HTML).
 */
export function matchedText(hit, q) {
  const text = hit.text;
  const [start, end] = Array.isArray(hit.match_chars) ? hit.match_chars : [0, 0];
  const a = Math.max(0, Math.min(start, text.length));
  const b = Math.max(a, Math.min(end, text.length));
  if (a === b) return highlighted(text, q);
  return [
    ...highlighted(text.slice(0, a), q),
    h("mark", { class: "match" }, text.slice(a, b)),
    ...highlighted(text.slice(b), q),
  ];
}

/** Where a hit's moment starts: its matching sentence. */
export const hitTime = (hit) => (Number.isFinite(hit.match_start) ? hit.match_start : hit.start);

/** Hits within one video: each a link that seeks the player to the matching sentence. */
export function hitList(hits, q) {
  return h(
    "ol",
    { class: "hits" },
    hits.map((hit) =>
      h(
        "li",
        { class: "hit" },
        momentLink(hit.video_id, hitTime(hit), formatTime(hitTime(hit)), { class: "time" }),
        h("span", { class: "text" }, matchedText(hit, q)),
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
              { href: momentHref(hit.video_id, hitTime(hit)), class: "hit-link" },
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
                  h("span", { class: "time" }, formatTime(hitTime(hit))),
                ),
                h("span", { class: "text" }, matchedText(hit, this.q)),
              ),
            ),
          ),
        ),
      ),
    );
  }
}
