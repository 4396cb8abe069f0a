// The public API, and nothing else: every call here is documented in /api/openapi.json.
// Requests carry the session cookie (same origin); a 401 anywhere tells the page to sign in again
// (the "vidsage:unauthorized" event, which app.js answers with the sign-in form).

/** An answer from the API that was not a success, with the server's own words. */
export class ApiError extends Error {
  constructor(status, code, message, body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** Tell the page that the session is gone (401): it shows the sign-in form. */
export function reportUnauthorized(error) {
  window.dispatchEvent(new CustomEvent("vidsage:unauthorized", { detail: error }));
}

export async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON (a proxy's page, say): fall back to the status line
  }
  const error = body && body.error;
  const failure =
    error && typeof error.message === "string"
      ? new ApiError(response.status, error.code || "error", error.message, error)
      : new ApiError(response.status, "http_error", `${response.status} ${response.statusText}`.trim());
  if (response.status === 401) reportUnauthorized(failure);
  return failure;
}

async function send(method, path, body = undefined) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers:
        body === undefined
          ? { Accept: "application/json" }
          : { Accept: "application/json", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Is vidsage running?");
  }
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

// ---- the session: sign in with a key, who is signed in, sign out -------------------------------

/** Sign in with an API key: the server sets an HttpOnly session cookie (the page never keeps the key). */
export async function signIn(key) {
  let response;
  try {
    response = await fetch("/api/session", {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify({ key }),
    });
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Is vidsage running?");
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      // not JSON
    }
    const error = body && body.error;
    throw new ApiError(
      response.status,
      (error && error.code) || "http_error",
      (error && error.message) || `${response.status}`,
    );
  }
  return response.json();
}

/** Who this browser is signed in as ({owner, role, key_id, expires_at}), or null. */
export async function whoAmI() {
  const response = await fetch("/api/session", { headers: { Accept: "application/json" } });
  if (response.status === 401) return null;
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

export const signOut = () => send("DELETE", "/api/session");

/** Signed links to a video's media, for sharing outside a session ({stream, thumbnail, transcript}). */
export const shareLinks = (id, expiresInS = 3600) =>
  send("POST", `${videoPath(id)}/links`, { expires_in_s: expiresInS });

async function getJson(path) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json" } });
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Is vidsage running?");
  }
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

function videoPath(id) {
  return `/api/videos/${encodeURIComponent(id)}`;
}

export const links = {
  stream: (id) => videoPath(id),
  thumbnail: (id) => `${videoPath(id)}/thumbnail`,
  transcript: (id, format) => `${videoPath(id)}/transcript?format=${format}`,
  events: (id) => (id ? `${videoPath(id)}/events` : "/api/events"), // live status (Server-Sent Events)
  chat: (id) => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws/chat${id ? `/${encodeURIComponent(id)}` : ""}`;
  },
};

export const listVideos = ({ limit = 24, cursor = null } = {}) =>
  getJson(`/api/videos${query({ limit, cursor })}`);
export const videoStatus = (id) => getJson(`${videoPath(id)}/status`);
export const transcript = (id) => getJson(links.transcript(id, "json"));
export const search = (q, { videoId = null, limit = 10 } = {}) =>
  getJson(`/api/search${query({ q, video_id: videoId, limit })}`);

export async function deleteVideo(id) {
  let response;
  try {
    response = await fetch(videoPath(id), { method: "DELETE" });
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Is vidsage running?");
  }
  if (!response.ok && response.status !== 404) throw await errorFrom(response);
}

/** Words for a failure, whatever threw it. */
export function describeError(error) {
  if (error instanceof ApiError) return error.message;
  return "Something went wrong in this page; reloading may help.";
}
