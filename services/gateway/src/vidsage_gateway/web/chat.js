// Chat over the WebSocket: /ws/chat/<video_id> (one video) or /ws/chat (the library).
// Answers stream in token by token; when one is done its [mm:ss] marks and its citations become
// links to those moments. Problems arrive as error frames on the same, still usable connection.
import { links } from "./api.js";
import { formatTime, h } from "./dom.js";
import { momentLink } from "./moments.js";

// [mm:ss] or [h:mm:ss]; in a library answer with a label first: [V2 mm:ss], [clip.mp4 mm:ss]
const TIME_MARK = /\[(?:[^[\]\n]{1,200} )?((?:\d{1,2}:)?\d{1,2}:\d{2})\]/g;

export class ChatPanel {
  /**
   * @param {string|null} videoId null for the whole library
   * @param {{title?: string, placeholder?: string, videoName?: (id: string) => string|null}} options
   *   videoName names a cited video in a library answer's sources
   */
  constructor(
    videoId,
    { title = "Chat", placeholder = "Ask about this video", videoName = () => null } = {},
  ) {
    this.videoId = videoId;
    this.videoName = videoName;
    this.socket = null;
    this.opening = null;
    this.conversationId = null;
    this.answer = null; // the message being streamed
    this.enabled = false;
    this.log = h("ol", {
      class: "chat-log",
      role: "log",
      "aria-live": "polite",
      "aria-label": "Conversation",
    });
    this.input = h("textarea", {
      id: "chat-input",
      rows: 2,
      maxlength: 4000,
      placeholder,
      onkeydown: (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          this.form.requestSubmit();
        }
      },
    });
    this.send = h("button", { type: "submit", class: "primary" }, "Send");
    this.stop = h("button", { type: "button", hidden: true, onclick: () => this.cancel() }, "Stop");
    this.note = h("p", { class: "hint" });
    this.form = h(
      "form",
      { class: "chat-form", onsubmit: (event) => this.submit(event) },
      h("label", { for: "chat-input", class: "visually-hidden" }, placeholder),
      this.input,
      h("div", { class: "chat-buttons" }, this.send, this.stop),
    );
    this.element = h(
      "section",
      { class: "panel chat", "aria-labelledby": "chat-title" },
      h("h2", { id: "chat-title" }, title),
      this.note,
      this.log,
      this.form,
    );
    this.setEnabled(false, "Chat opens once the video is ready.");
  }

  setEnabled(enabled, note = "") {
    this.enabled = enabled;
    this.note.textContent = note;
    this.note.hidden = !note;
    this.input.disabled = !enabled;
    this.send.disabled = !enabled || this.answer !== null;
  }

  destroy() {
    if (this.socket) this.socket.close(1000, "page closed");
    this.socket = null;
  }

  /** The open socket, connecting first if needed. */
  connect() {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) return Promise.resolve(this.socket);
    if (this.opening) return this.opening;
    const socket = new WebSocket(links.chat(this.videoId));
    this.socket = socket; // kept at once, so destroy() also closes a socket still connecting
    let opened = false;
    socket.addEventListener("message", (event) => this.receive(event.data));
    this.opening = new Promise((resolve, reject) => {
      socket.addEventListener("open", () => {
        opened = true;
        resolve(socket);
      });
      socket.addEventListener("close", () => {
        if (this.socket === socket) this.socket = null;
        if (!opened) reject(new Error("the chat connection failed"));
        else this.finishWithError("The connection closed before the answer was complete.");
      });
    }).finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  async submit(event) {
    event.preventDefault();
    const content = this.input.value.trim();
    if (!content || !this.enabled || this.answer) return;
    this.input.value = "";
    this.log.append(h("li", { class: "msg user" }, h("p", {}, content)));
    this.startAnswer();
    try {
      const socket = await this.connect();
      const frame = { type: "message", content };
      if (this.conversationId) frame.conversation_id = this.conversationId;
      socket.send(JSON.stringify(frame));
    } catch {
      this.finishWithError("The chat cannot be reached right now. Try again in a moment.");
    }
  }

  cancel() {
    if (this.answer && this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: "cancel" }));
    }
  }

  startAnswer() {
    const text = h("p", { class: "answer-text" });
    const element = h("li", { class: "msg assistant", "aria-busy": "true" }, text);
    this.answer = { element, text, content: "" };
    this.log.append(element);
    this.busy(true);
  }

  busy(streaming) {
    this.send.disabled = streaming || !this.enabled;
    this.stop.hidden = !streaming;
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!this.answer) return; // a late frame of a cancelled answer
    if (frame.type === "token") {
      this.answer.content += frame.content;
      this.answer.text.textContent = this.answer.content;
      this.scrollToEnd();
    } else if (frame.type === "done") {
      this.conversationId = frame.conversation_id || this.conversationId;
      this.finish(frame);
    } else if (frame.type === "error") {
      this.finishWithError(errorText(frame));
    }
  }

  finish(frame) {
    const { element, text, content } = this.answer;
    const citations = frame.citations || [];
    text.replaceChildren(...this.linkTimes(content, citations));
    if (citations.length) {
      element.append(
        h(
          "ol",
          { class: "citations", "aria-label": "Sources" },
          citations.map((c) =>
            h(
              "li",
              { class: c.supported === false ? "unsupported" : c.supported === true ? "supported" : "" },
              momentLink(c.video_id, c.start, this.sourceLabel(c), { class: "citation" }),
              h("q", {}, shorten(c.text.trim(), 160)),
              supportMark(c, frame.mode),
            ),
          ),
        ),
      );
    }
    element.dataset.mode = frame.mode || "";
    if (frame.unsupported) {
      element.append(
        h(
          "p",
          { class: "hint unsupported-note" },
          `${frame.unsupported} citation${frame.unsupported === 1 ? " does" : "s do"} not seem to support the answer.`,
        ),
      );
    }
    this.end();
  }

  finishWithError(message) {
    if (!this.answer) return;
    const { element, content } = this.answer;
    if (!content) element.querySelector(".answer-text").remove();
    element.classList.add("error");
    element.append(h("p", { class: "chat-error", role: "alert" }, message));
    this.end();
  }

  end() {
    this.answer.element.setAttribute("aria-busy", "false");
    this.answer = null;
    this.busy(false);
    this.scrollToEnd();
  }

  sourceLabel(citation) {
    const name = this.videoId ? null : citation.filename || this.videoName(citation.video_id);
    return name ? `${name} ${formatTime(citation.start)}` : formatTime(citation.start);
  }

  /** Text with each [mm:ss] mark turned into a link to the moment it cites. */
  linkTimes(content, citations) {
    const parts = [];
    let last = 0;
    for (const match of content.matchAll(TIME_MARK)) {
      const second = parseTime(match[1]);
      const citation = citationAt(citations, second);
      // Marks the server could not match are not citations: in a video's chat they still name a
      // moment of it; in a library answer the video is unknown, so they stay text.
      const videoId = citation ? citation.video_id : this.videoId;
      if (!videoId) continue;
      parts.push(content.slice(last, match.index));
      parts.push(momentLink(videoId, citation ? citation.start : second, match[0], { class: "citation" }));
      last = match.index + match[0].length;
    }
    parts.push(content.slice(last));
    return parts;
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
  }
}

/** The citation a mark at `second` refers to: the one starting in that second, else containing it. */
function citationAt(citations, second) {
  return (
    citations.find((c) => Math.floor(c.start) === second) ||
    citations.find((c) => c.start <= second + 1 && second <= c.end) ||
    null
  );
}

/** The support check's verdict on a citation of a language-model answer (none for quotes). */
function supportMark(citation, mode) {
  if (mode !== "llm" || typeof citation.supported !== "boolean") return "";
  const score = Number.isFinite(citation.support_score) ? ` (support ${citation.support_score.toFixed(2)})` : "";
  return citation.supported
    ? h("span", { class: "support-mark", title: `Supported by the cited text${score}` }, "✓ supported")
    : h("span", { class: "support-mark", title: `Not supported by the cited text${score}` }, "✗ not supported");
}

function shorten(text, max) {
  return text.length <= max ? text : `${text.slice(0, max - 1).trimEnd()}…`;
}

function parseTime(label) {
  return label.split(":").reduce((total, part) => total * 60 + Number(part), 0);
}

function errorText(frame) {
  if (frame.code === "cancelled") return "Stopped.";
  if (frame.code === "rate_limited" && frame.retry_after_s) {
    return `${frame.message} Try again in ${Math.ceil(frame.retry_after_s)} s.`;
  }
  return frame.message || "The chat failed.";
}
