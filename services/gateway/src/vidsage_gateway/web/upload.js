// The upload panel: a file picker and a drop zone, a client-side check of type and size, one row
// per file with a progress bar, and the server's answer in words when it refuses a file.
import { ApiError, describeError, videoStatus } from "./api.js";
import { announce, formatBytes, formatTime, h } from "./dom.js";
import { resumableUpload } from "./tus.js";

// The gateway's defaults (VIDSAGE_GATEWAY__MAX_UPLOAD_BYTES, __MAX_DURATION_S); the server
// checks again, by content, and its answer is shown when it differs.
const MAX_BYTES = 100 * 1024 * 1024;
const MAX_SECONDS = 180;
const EXTENSIONS = ["mp4", "mov", "avi"];
const MIME_TYPES = ["video/mp4", "video/quicktime", "video/x-msvideo", "video/avi", "video/msvideo"];

/** Why the server would refuse this file (type, size), in words, or null when it looks acceptable. */
function checkFile(file) {
  const extension = (file.name.split(".").pop() || "").toLowerCase();
  if (!EXTENSIONS.includes(extension) && !MIME_TYPES.includes(file.type)) {
    return "This is not an MP4, MOV or AVI video.";
  }
  if (file.size === 0) return "This file is empty.";
  if (file.size > MAX_BYTES) return `This file is ${formatBytes(file.size)}, over the 100 MiB limit.`;
  return null;
}

/**
 * Why the server would refuse this file for its length, or null. The browser reads the duration
 * from the file's header when it can (MP4 and MOV; not AVI); the server measures it anyway.
 */
async function checkDuration(file) {
  const seconds = await readDuration(file);
  if (seconds === null || seconds <= MAX_SECONDS) return null;
  return `This video lasts ${formatTime(seconds)}; the limit is ${formatTime(MAX_SECONDS)}.`;
}

function readDuration(file, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const video = document.createElement("video");
    const timer = setTimeout(() => done(null), timeoutMs);
    function done(value) {
      clearTimeout(timer);
      video.removeAttribute("src");
      video.load();
      URL.revokeObjectURL(url);
      resolve(value);
    }
    video.preload = "metadata";
    video.muted = true;
    video.addEventListener(
      "loadedmetadata",
      () => done(Number.isFinite(video.duration) ? video.duration : null),
      {
        once: true,
      },
    );
    video.addEventListener("error", () => done(null), { once: true });
    video.src = url;
  });
}

let shared = null;

/**
 * The page's one upload panel. It outlives the library view, so uploads (and their rows) go on
 * while the user looks at a video; the library sets `onUploaded` while it is shown.
 */
export function uploadPanel() {
  shared = shared || new UploadPanel();
  return shared;
}

class UploadPanel {
  constructor() {
    this.onUploaded = () => {};
    this.pending = 0;
    this.queue = Promise.resolve();
    // Leaving the page would cut the uploads in flight: ask first.
    window.addEventListener("beforeunload", (event) => {
      if (this.pending > 0) event.preventDefault();
    });
    this.input = h("input", {
      id: "upload-input",
      hidden: true,
      type: "file",
      multiple: true,
      accept: [...EXTENSIONS.map((e) => `.${e}`), ...MIME_TYPES].join(","),
      onchange: () => {
        this.addFiles(this.input.files);
        this.input.value = "";
      },
    });
    this.rows = h("ul", { class: "upload-rows", "aria-label": "Uploads" });
    this.zone = h(
      "div",
      { class: "drop-zone" },
      this.input,
      h("p", { class: "drop-hint" }, "Drop videos here, or"),
      h("button", { type: "button", class: "primary", onclick: () => this.input.click() }, "Choose videos…"),
      h("p", { class: "hint" }, `MP4, MOV or AVI · up to 100 MiB and ${MAX_SECONDS / 60} minutes each`),
    );
    this.wireDrop();
    this.element = h(
      "section",
      { class: "panel upload", "aria-labelledby": "upload-title" },
      h("h2", { id: "upload-title" }, "Upload"),
      this.zone,
      this.rows,
    );
  }

  wireDrop() {
    const zone = this.zone;
    let depth = 0; // dragenter/leave fire for children too
    zone.addEventListener("dragenter", (event) => {
      event.preventDefault();
      depth += 1;
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) zone.classList.remove("dragging");
    });
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      depth = 0;
      zone.classList.remove("dragging");
      this.addFiles(event.dataTransfer.files);
    });
  }

  /** Check each file, then upload the acceptable ones one after another. */
  addFiles(fileList) {
    for (const file of Array.from(fileList || [])) {
      const row = new UploadRow(file);
      this.rows.prepend(row.element);
      const problem = checkFile(file);
      if (problem) {
        row.fail(`Not uploaded: ${problem}`);
        continue;
      }
      this.pending += 1;
      this.queue = this.queue
        .then(() => this.send(file, row))
        .finally(() => {
          this.pending -= 1;
        });
    }
  }

  async send(file, row) {
    if (row.cancelled.aborted) return;
    const tooLong = await checkDuration(file);
    if (tooLong) {
      row.fail(`Not uploaded: ${tooLong}`);
      return;
    }
    row.start();
    try {
      // tus: resumes after a dropped connection, and after a reload when the same file is chosen again
      const videoId = await resumableUpload(file, {
        onProgress: (loaded, total) => row.progress(loaded, total),
        onResume: (offset) => row.resume(offset),
        signal: row.cancelled,
      });
      const record = await videoStatus(videoId);
      row.succeed(record);
      this.onUploaded(record);
    } catch (error) {
      const refused = error instanceof ApiError && error.status > 0;
      row.fail(`${refused ? "Refused by the server" : "Not uploaded"}: ${describeError(error)}`);
    }
  }
}

class UploadRow {
  constructor(file) {
    this.file = file;
    this.bar = h("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` });
    this.message = h("span", { class: "upload-message" }, "Waiting…");
    const controller = new AbortController();
    this.cancelled = controller.signal;
    this.cancel = h(
      "button",
      {
        type: "button",
        class: "small",
        "aria-label": `Cancel the upload of ${file.name}`,
        onclick: () => {
          controller.abort();
          this.fail("Not uploaded: The upload was cancelled.");
        },
      },
      "Cancel",
    );
    this.element = h(
      "li",
      { class: "upload-row" },
      h("span", { class: "upload-name" }, file.name),
      h("span", { class: "upload-size" }, formatBytes(file.size)),
      this.bar,
      h("span", { class: "upload-status" }, this.message, this.cancel),
    );
  }

  start() {
    this.message.textContent = "Uploading…";
    announce(`Uploading ${this.file.name}`);
  }

  resume(offset) {
    announce(`Resuming ${this.file.name} at ${formatBytes(offset)}`);
    this.element.dataset.resumedAt = String(offset);
  }

  progress(loaded, total) {
    const percent = total ? Math.round((loaded / total) * 100) : 0;
    this.bar.value = percent;
    // The last bytes are checked by the server (type, duration) before it answers.
    this.message.textContent = percent >= 100 ? "Checking…" : `Uploading… ${percent} %`;
  }

  succeed(record) {
    this.cancel.remove();
    this.bar.value = 100;
    this.element.classList.add("done");
    this.message.replaceChildren(
      "Uploaded. ",
      h("a", { href: `#/videos/${encodeURIComponent(record.id)}` }, "Open"),
    );
    announce(`${this.file.name} uploaded; processing starts`);
  }

  fail(text) {
    if (this.element.classList.contains("failed")) return; // cancelled first: keep that
    this.cancel.remove();
    this.bar.hidden = true;
    this.element.classList.add("failed");
    this.message.textContent = text;
    this.message.setAttribute("role", "alert");
  }
}
