// <memsim-lesson>: a lesson of the memory, loader and BPF simulator in any
// page, with one tag. Its attributes are the page's URL parameters:
//   <script type="module" src="https://YOUR-SITE/memsim.js"></script>
//   <memsim-lesson lesson="fork-cow" step="60" embed></memsim-lesson>
//   <memsim-lesson src="week3/lesson.toml"></memsim-lesson>
// (lesson: a built-in lesson's id; step: the event position to open at;
// src: a lesson file or ELF file, relative to the page; board: the board
// preset firmware runs on; embed: without the site's lesson picker).
// Several on one page work independently, each in its own shadow root
// (styles isolated); the viewer module loads once per page, the narrator
// and engine modules once, when first needed. Each element announces its
// position as a `memsim-step` event ({ position, length, operation }) and
// has seek(position), step(by) and load(lesson, step).
// Where the viewer, its styles, lessons and other modules are: beside this
// module, or where globalThis.memsimAssets says (set it in an earlier
// classic <script> when a bundler moves this module away from them).
const base = (() => {
  const u = globalThis.memsimAssets ? new URL(globalThis.memsimAssets, document.baseURI) : new URL("./", import.meta.url);
  if (!u.pathname.endsWith("/")) u.pathname += "/";
  return u.href;
})();
globalThis.memsimAssets = base;
// The viewer does not mount a page of its own next to the elements.
globalThis.memsimComponent = true;
import init, { mount } from "./web.js";

let started;
/** Resolves once the viewer module is loaded (once per page). */
export function ready() {
  started ??= init({ module_or_path: new URL("web_bg.wasm", base) }).catch((e) => {
    started = undefined;
    throw e;
  });
  return started.then(() => undefined);
}

export class MemsimLesson extends HTMLElement {
  static observedAttributes = ["lesson", "step", "src", "board", "embed"];
  #mounted = null;
  #root = null;
  #position = 0;
  #generation = 0;
  // What is mounted (the attributes but step), and a command given before
  // its lesson had loaded.
  #key = null;
  #loaded = false;
  #pending = null;

  connectedCallback() {
    if (!this.shadowRoot) {
      const shadow = this.attachShadow({ mode: "open" });
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = new URL("style.css", base).href;
      this.#root = document.createElement("div");
      shadow.append(link, this.#root);
      // Keys step the lesson that has focus.
      if (!this.hasAttribute("tabindex")) this.tabIndex = 0;
      this.addEventListener("memsim-step", (e) => {
        this.#position = e.detail.position;
        if (e.detail.length > 0 && !this.#loaded) {
          this.#loaded = true;
          const p = this.#pending;
          this.#pending = null;
          if (p) this.#command(p);
        }
      });
    }
    this.#render();
  }

  disconnectedCallback() {
    // Moved in the DOM (connected again at once): keep what is mounted.
    queueMicrotask(() => {
      if (this.isConnected) return;
      this.#generation++;
      this.#mounted?.destroy();
      this.#mounted = null;
      this.#key = null;
    });
  }

  attributeChangedCallback() {
    if (this.isConnected && this.shadowRoot) this.#render();
  }

  async #render() {
    const q = new URLSearchParams();
    for (const a of ["lesson", "board"]) if (this.hasAttribute(a)) q.set(a, this.getAttribute(a));
    if (this.hasAttribute("src")) q.set("src", new URL(this.getAttribute("src"), document.baseURI).href);
    if (this.hasAttribute("embed")) q.set("embed", "1");
    const key = q.toString();
    const step = this.getAttribute("step");
    // Only `step` changed (or the element was moved): seek, keep the rest.
    if (this.#mounted && key === this.#key) {
      if (step !== null && Number(step) !== this.#position) this.seek(Number(step));
      return;
    }
    if (step !== null) q.set("step", step);
    const generation = ++this.#generation;
    try {
      await ready();
    } catch (e) {
      this.#root.textContent = `The simulator could not start in this browser: ${e}`;
      return;
    }
    if (generation !== this.#generation) return;
    this.#mounted?.destroy();
    this.#root.replaceChildren();
    this.#key = key;
    this.#loaded = false;
    this.#mounted = mount(this.#root, this, "?" + q);
  }

  /** The event position shown (0: before the first event). */
  get position() { return this.#position; }

  /** Shows the state after `position` events. */
  seek(position) { this.#command({ seek: position }); }

  /** Moves by `by` events (negative: back). */
  step(by = 1) { this.#command({ step: by }); }

  /** Opens built-in lesson `lesson`, at event position `step` if given. */
  load(lesson, step) {
    this.removeAttribute("src");
    if (step === undefined) this.removeAttribute("step"); else this.setAttribute("step", String(step));
    this.setAttribute("lesson", lesson);
  }

  // Given before the lesson has loaded, a command waits for it.
  #command(detail) {
    if (!this.#loaded) {
      this.#pending = detail;
      return;
    }
    this.dispatchEvent(new CustomEvent("memsim-command", { detail }));
  }
}

if (!customElements.get("memsim-lesson")) customElements.define("memsim-lesson", MemsimLesson);
