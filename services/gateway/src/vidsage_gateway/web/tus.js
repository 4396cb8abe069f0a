// Resumable uploads with tus 1.0.0 (the gateway's /api/uploads/): a small client of our own, no
// dependency. The upload's URL is kept in localStorage under the file's name, size and modification
// time, so after a reload, choosing the same file again resumes where the server got to; a dropped
// connection is retried with growing pauses, each time from the offset the server reports (HEAD).
import { ApiError, errorFrom } from "./api.js";

const TUS = { "Tus-Resumable": "1.0.0" };
const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 15000, 30000];
const STORE_PREFIX = "vidsage.upload:";
const RETRYABLE = new Set([408, 409, 423, 429, 500, 502, 503, 504]);

/** The localStorage key of a file: its name, size and modification time. */
export function uploadKey(file) {
  return `${STORE_PREFIX}${file.name}:${file.size}:${file.lastModified}`;
}

function base64(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

function remember(key, url) {
  try {
    localStorage.setItem(key, url);
  } catch {
    // storage full or disabled: the upload still works, it just cannot resume after a reload
  }
}

function forget(key) {
  try {
    localStorage.removeItem(key);
  } catch {
    // nothing to forget
  }
}

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

async function call(method, url, headers = {}) {
  try {
    return await fetch(url, { method, headers: { ...TUS, Accept: "application/json", ...headers } });
  } catch {
    return null; // the network: retried
  }
}

/** Terminate a cancelled upload (the server drops its parts at once); the PATCH just aborted may
 * still hold it for a moment (423), so try again a few times. */
async function terminate(url) {
  for (const pause of [200, 500, 1000, 2000]) {
    await sleep(pause);
    const response = await call("DELETE", url);
    if (response && response.status !== 423) return;
  }
}

async function create(file) {
  const response = await call("POST", "/api/uploads/", {
    "Upload-Length": String(file.size),
    "Upload-Metadata": `filename ${base64(file.name)},filetype ${base64(file.type || "")}`,
  });
  if (response === null) throw new ApiError(0, "network", "The server cannot be reached. Is vidsage running?");
  if (response.status !== 201) throw await errorFrom(response);
  return new URL(response.headers.get("Location"), window.location.href).pathname;
}

/** PATCH the file from `offset`; XMLHttpRequest, because fetch() reports no upload progress. */
function patch(url, file, offset, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PATCH", url);
    for (const [name, value] of Object.entries(TUS)) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Upload-Offset", String(offset));
    xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
    xhr.upload.addEventListener("progress", (event) => onProgress(offset + event.loaded, file.size));
    xhr.addEventListener("load", () => resolve(xhr));
    xhr.addEventListener("error", () => resolve(null));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "The upload was cancelled.")));
    if (signal) signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(file.slice(offset));
  });
}

function xhrError(xhr) {
  let body = null;
  try {
    body = JSON.parse(xhr.responseText);
  } catch {
    // not JSON
  }
  if (body && body.error) return new ApiError(xhr.status, body.error.code, body.error.message, body.error);
  return new ApiError(xhr.status, "http_error", `The server answered ${xhr.status} ${xhr.statusText}.`);
}

/**
 * Upload `file` with tus, resuming an earlier upload of the same file. Resolves with the new
 * video's id; rejects with an ApiError (the server's refusal, or the network after the retries).
 * `onProgress(bytes, total)`; `onResume(offset)` when an earlier upload is continued.
 */
export async function resumableUpload(file, { onProgress = () => {}, onResume = () => {}, signal = null } = {}) {
  const key = uploadKey(file);
  let url = stored(key);
  let retries = 0;
  let offset = null;
  let fresh = url === null;
  while (true) {
    if (signal && signal.aborted) {
      if (url) terminate(url);
      forget(key);
      throw new ApiError(0, "aborted", "The upload was cancelled.");
    }
    let failure = null;
    if (url === null) {
      url = await create(file);
      remember(key, url);
      offset = 0;
    }
    if (offset === null) {
      const head = await call("HEAD", url);
      if (head && (head.status === 404 || head.status === 410)) {
        forget(key); // expired or gone: start again
        url = null;
        fresh = true;
        continue;
      }
      if (head && head.ok) {
        if (head.headers.get("Vidsage-Video-Id")) {
          forget(key);
          return head.headers.get("Vidsage-Video-Id");
        }
        offset = Number(head.headers.get("Upload-Offset"));
        if (!fresh && offset > 0) onResume(offset);
        fresh = true;
      } else if (head && !RETRYABLE.has(head.status)) {
        throw await errorFrom(head);
      } else {
        failure = new ApiError(0, "network", "The upload was interrupted: the connection to the server closed.");
      }
    }
    if (failure === null) {
      let xhr;
      try {
        xhr = await patch(url, file, offset, onProgress, signal);
      } catch (error) {
        if (error.code === "aborted") terminate(url);
        forget(key);
        throw error;
      }
      if (xhr && xhr.status === 204) {
        const videoId = xhr.getResponseHeader("Vidsage-Video-Id");
        if (videoId) {
          forget(key);
          return videoId;
        }
        offset = Number(xhr.getResponseHeader("Upload-Offset"));
        retries = 0;
        continue;
      }
      if (xhr && !RETRYABLE.has(xhr.status)) {
        const error = xhrError(xhr);
        if (xhr.status !== 401) forget(key); // refused: the server dropped the upload
        throw error;
      }
      failure = xhr
        ? xhrError(xhr)
        : new ApiError(0, "network", "The upload was interrupted: the connection to the server closed.");
    }
    if (retries >= RETRY_DELAYS_MS.length) throw failure;
    await sleep(RETRY_DELAYS_MS[retries], signal);
    retries += 1;
    offset = null; // ask the server how far it got
  }
}
