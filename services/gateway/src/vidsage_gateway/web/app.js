// vidsage web page: a hash-routed single page over the public API (no build step).
// Signed out, it shows the sign-in form (a key, or the #key= link `make run` prints); any 401 from
// the API brings the form back, and signing in returns to the page that was open.
import { signIn } from "./api.js";
import { h } from "./dom.js";
import { LibraryView } from "./library.js";
import { parseRoute, searchHref } from "./router.js";
import { SearchView } from "./search.js";
import { AccountBar, SignInView, takeKeyFromAddress, whoAmI } from "./signin.js";
import { VideoView } from "./video.js";

const main = document.getElementById("main");
const searchForm = document.getElementById("search-form");
const searchInput = document.getElementById("search-input");
const account = new AccountBar(document.getElementById("account"), () => showSignIn());
let current = null; // {route, view}
let signedIn = false;

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

function show(view, { focus }) {
  if (current) current.view.destroy();
  current = { route: { name: view.title }, view };
  main.replaceChildren(view.element);
  document.title = `${view.title} · vidsage`;
  if (focus) {
    const heading = main.querySelector("h1");
    (heading || main).focus({ preventScroll: false });
  }
}

function showSignIn(reason = null) {
  signedIn = false;
  account.show(null);
  searchForm.hidden = true;
  show(
    new SignInView(
      (session) => {
        signedIn = true;
        account.show(session);
        searchForm.hidden = false;
        current = null;
        render({ focus: true });
      },
      { reason },
    ),
    { focus: true },
  );
}

function render({ focus }) {
  if (!signedIn) return;
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

window.addEventListener("hashchange", () => {
  // a sign-in link pasted into an open page arrives as a hash change, not a load
  if (location.hash.startsWith("#key=")) {
    start();
    return;
  }
  render({ focus: true });
});
window.addEventListener("vidsage:unauthorized", (event) => {
  if (!signedIn) return;
  const error = event.detail;
  showSignIn(`Please sign in again: ${error && error.message ? error.message : "the session has ended"}.`);
});

async function start() {
  const key = takeKeyFromAddress();
  let session = null;
  let reason = null;
  try {
    if (key) session = await signIn(key);
    else session = await whoAmI();
  } catch (error) {
    reason = `The sign-in link did not work: ${error.message}`;
  }
  if (!session) {
    showSignIn(reason);
    return;
  }
  signedIn = true;
  account.show(session);
  searchForm.hidden = false;
  render({ focus: false });
}

start();
