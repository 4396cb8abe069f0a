// Hash routes: "#/" (library), "#/search?q=...", "#/videos/<id>?t=12.5".

/** The route named by a location hash: {name, params}. */
export function parseRoute(hash) {
  const path = hash.startsWith("#/") ? hash.slice(1) : "/"; // "", "#", "#main": the library
  const [pathname, queryString = ""] = path.split("?", 2);
  const query = new URLSearchParams(queryString);
  const video = pathname.match(/^\/videos\/([^/]+)\/?$/);
  if (video) {
    const t = Number.parseFloat(query.get("t"));
    return { name: "video", params: { id: decodeURIComponent(video[1]), t: Number.isFinite(t) ? t : null } };
  }
  if (pathname === "/search") return { name: "search", params: { q: (query.get("q") || "").trim() } };
  if (pathname === "/" || pathname === "") return { name: "library", params: {} };
  return { name: "not-found", params: { path: pathname } };
}

export const searchHref = (q) => `#/search?${new URLSearchParams({ q })}`;
