// Strings from outside the operator's hands (models agents ask for, metadata, reasons): isolated, controls visible, cut short.
import { h } from './dom.js';

/** Bidi overrides, embeddings, isolates and marks, C0/C1 controls, zero-width and line/paragraph separators. */
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
const TITLE_MAX = 2000;

/** The text with every invisible or direction-changing character written out as ‹U+202E›. */
export function visibleText(value) {
  return String(value).replace(INVISIBLE, (char) => `‹U+${char.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}›`);
}

/** Cut to `max` characters (code points, a surrogate pair is never split) with an ellipsis. */
export function clip(text, max) {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/**
 * An untrusted string as an element: in a <bdi> so its direction cannot reorder the text around it, controls made
 * visible so it cannot reorder itself, at most `max` characters shown (the whole of it, up to 2,000, in the tooltip).
 */
export function untrusted(value, { max = 120, tag = 'bdi', props = {} } = {}) {
  if (value === null || value === undefined || value === '') return null;
  const text = visibleText(value);
  const shown = clip(text, max);
  return h(
    tag,
    { ...props, class: props.class ? `untrusted ${props.class}` : 'untrusted', title: shown === text ? (props.title ?? null) : clip(text, TITLE_MAX) },
    shown,
  );
}
