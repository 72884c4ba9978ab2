// Types for memsim.js: the <memsim-lesson> element and its events.

/** What a `memsim-step` event says. */
export interface MemsimStepDetail {
  /** Events applied (0: before the first). */
  position: number;
  /** Events in the run. */
  length: number;
  /** The operation (1-based) the last applied event belongs to; 0 at the start. */
  operation: number;
}

/** A lesson of the simulator. Attributes: lesson, step, src, board, embed. */
export declare class MemsimLesson extends HTMLElement {
  static readonly observedAttributes: string[];
  /** The event position shown. */
  readonly position: number;
  /** Shows the state after `position` events (given before the lesson has loaded, once it has). */
  seek(position: number): void;
  /** Moves by `by` events (negative: back). */
  step(by?: number): void;
  /** Opens a built-in lesson, at an event position if given. */
  load(lesson: string, step?: number): void;
}

/** Resolves once the viewer module is loaded (once per page). */
export declare function ready(): Promise<void>;

declare global {
  interface HTMLElementTagNameMap {
    "memsim-lesson": MemsimLesson;
  }
  // The event bubbles out of the shadow root (composed), so pages listen on document too.
  interface HTMLElementEventMap {
    "memsim-step": CustomEvent<MemsimStepDetail>;
  }
  interface DocumentEventMap {
    "memsim-step": CustomEvent<MemsimStepDetail>;
  }
  interface WindowEventMap {
    "memsim-step": CustomEvent<MemsimStepDetail>;
  }
}
