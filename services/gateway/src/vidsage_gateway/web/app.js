// vidsage web page: a hash-routed single page over the public API (no build step).
import { h } from "./dom.js";
import { LibraryView } from "./library.js";
import { parseRoute, searchHref } from "./router.js";
import { SearchView } from "./search.js";
import { VideoView } from "./video.js";

const main = document.getElementById("main");
const searchForm = document.getElementById("search-form");
const searchInput = document.getElementById("search-input");
let current = null; // {route, view}

class NotFoundView {
  constructor(path) {
    this.title = "Not found";
    this.element = h(
      "div",
      {},
      h("h1", { tabindex: -1 }, "Nothing here"),
      h(
        "p",
        {},
        "There is no page at ",
        h("code", {}, path),
        ". ",
        h("a", { href: "#/" }, "Go to the library"),
        ".",
      ),
    );
  }

  destroy() {}
}

function createView(route) {
  switch (route.name) {
    case "library":
      return new LibraryView();
    case "search":
      return new SearchView(route.params.q);
    case "video":
      return new VideoView(route.params.id, { t: route.params.t });
    default:
      return new NotFoundView(route.params.path);
  }
}

function render({ focus }) {
  const route = parseRoute(location.hash);
  // Same video, another moment: seek in place, keep the player.
  if (
    current &&
    route.name === "video" &&
    current.route.name === "video" &&
    route.params.id === current.route.params.id
  ) {
    current.route = route;
    current.view.update(route.params);
    return;
  }
  if (current) current.view.destroy();
  const view = createView(route);
  current = { route, view };
  main.replaceChildren(view.element);
  document.title = `${view.title} · vidsage`;
  searchInput.value = route.name === "search" ? route.params.q : "";
  if (focus) {
    const heading = main.querySelector("h1");
    (heading || main).focus({ preventScroll: false });
  }
  window.scrollTo(0, 0);
}

searchForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const q = searchInput.value.trim();
  if (!q) return;
  const target = searchHref(q);
  if (location.hash === target) {
    render({ focus: true }); // the same search again: run it again
  } else {
    location.hash = target;
  }
});

// The skip link moves focus without touching the hash (the hash is the router's).
document.querySelector(".skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

window.addEventListener("hashchange", () => render({ focus: true }));
render({ focus: false });
