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
const base = new URL("./", import.meta.url).href;
// Where the viewer fetches lessons and its other modules from: here.
globalThis.memsimAssets ??= base;
// The viewer does not mount a page of its own next to the elements.
globalThis.memsimComponent = true;
import init, { mount } from "./web.js";

let started;
/** Resolves once the viewer module is loaded (once per page). */
export function ready() {
  started ??= init({ module_or_path: new URL("web_bg.wasm", base) });
  return started.then(() => undefined);
}

export class MemsimLesson extends HTMLElement {
  static observedAttributes = ["lesson", "step", "src", "board", "embed"];
  #mounted = null;
  #root = null;
  #position = 0;
  #generation = 0;

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
      this.addEventListener("memsim-step", (e) => { this.#position = e.detail.position; });
    }
    this.#render();
  }

  disconnectedCallback() {
    this.#generation++;
    this.#mounted?.destroy();
    this.#mounted = null;
  }

  attributeChangedCallback() {
    if (this.isConnected && this.shadowRoot) this.#render();
  }

  async #render() {
    const generation = ++this.#generation;
    await ready();
    if (generation !== this.#generation) return;
    this.#mounted?.destroy();
    const q = new URLSearchParams();
    for (const a of ["lesson", "step", "board"]) if (this.hasAttribute(a)) q.set(a, this.getAttribute(a));
    if (this.hasAttribute("src")) q.set("src", new URL(this.getAttribute("src"), document.baseURI).href);
    if (this.hasAttribute("embed")) q.set("embed", "1");
    this.#root.replaceChildren();
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

  #command(detail) {
    this.dispatchEvent(new CustomEvent("memsim-command", { detail }));
  }
}

if (!customElements.get("memsim-lesson")) customElements.define("memsim-lesson", MemsimLesson);
