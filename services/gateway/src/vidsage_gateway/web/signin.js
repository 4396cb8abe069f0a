// Signing in: the form that takes an API key, the sign-in link (#key=...) that `make run` prints,
// and the account line in the header (who is signed in, and the sign-out button).
// The key goes to POST /api/session once; the page keeps nothing but the HttpOnly cookie the server
// sets, which JavaScript cannot read.
import { describeError, signIn, signOut, whoAmI } from "./api.js";
import { h, replaceChildren } from "./dom.js";

const KEY_FRAGMENT = "#key=";

/**
 * A key handed over in the address (`http://host/#key=vsk_...`): taken out of the address bar at
 * once (history.replaceState, so it is not in the history either) and returned, else null.
 * A fragment never reaches a server.
 */
export function takeKeyFromAddress() {
  if (!location.hash.startsWith(KEY_FRAGMENT)) return null;
  const key = decodeURIComponent(location.hash.slice(KEY_FRAGMENT.length));
  history.replaceState(null, "", `${location.pathname}${location.search}#/`);
  return key;
}

export class SignInView {
  /** @param {(session: object) => void} onSignedIn called once the session is open */
  constructor(onSignedIn, { reason = null } = {}) {
    this.title = "Sign in";
    this.onSignedIn = onSignedIn;
    this.input = h("input", {
      id: "key-input",
      name: "key",
      type: "password",
      autocomplete: "off",
      spellcheck: "false",
      required: true,
      maxlength: 200,
      placeholder: "vsk_…",
    });
    this.button = h("button", { type: "submit", class: "primary" }, "Sign in");
    this.error = h("p", { class: "error", role: "alert", hidden: true });
    this.element = h(
      "div",
      { class: "signin" },
      h("h1", { tabindex: -1 }, "Sign in"),
      h(
        "form",
        { class: "panel signin-form", onsubmit: (event) => this.submit(event) },
        reason ? h("p", { class: "notice" }, reason) : null,
        h("label", { for: "key-input" }, "API key"),
        this.input,
        h(
          "p",
          { class: "hint" },
          "Ask an admin for a key (vidsage keys create). On this machine, `make run` printed a sign-in ",
          "link, and the key is in .vidsage/admin.key.",
        ),
        this.error,
        this.button,
      ),
    );
  }

  destroy() {}

  async submit(event) {
    event.preventDefault();
    const key = this.input.value.trim();
    if (!key) return;
    this.button.disabled = true;
    this.error.hidden = true;
    try {
      const session = await signIn(key);
      this.input.value = "";
      this.onSignedIn(session);
    } catch (error) {
      this.error.textContent = `Not signed in: ${describeError(error)}`;
      this.error.hidden = false;
      this.input.focus();
    } finally {
      this.button.disabled = false;
    }
  }
}

/** The header's account line: "local · admin" and a sign-out button; hidden when signed out. */
export class AccountBar {
  constructor(element, onSignedOut) {
    this.element = element;
    this.onSignedOut = onSignedOut;
  }

  show(session) {
    if (!session) {
      replaceChildren(this.element);
      this.element.hidden = true;
      return;
    }
    replaceChildren(
      this.element,
      h("span", { class: "who", title: `key ${session.key_id}` }, `${session.owner} · ${session.role}`),
      h("button", { type: "button", id: "sign-out", onclick: () => this.signOut() }, "Sign out"),
    );
    this.element.hidden = false;
  }

  async signOut() {
    try {
      await signOut();
    } catch {
      // signed out on this side anyway: the form comes next
    }
    this.show(null);
    this.onSignedOut();
  }
}

export { whoAmI };
