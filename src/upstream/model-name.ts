// One normal form of a model name, taken before routing, pricing and scope matching, so a variant cannot dodge a scoped limit.
import { ProxyError } from '../errors.ts';

/** Control characters, format characters (zero-width space and joiners, bidi controls, BOM) and other default-ignorable code points. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/u;
/** A run of slashes with any whitespace around or between them. */
const SLASHES = /\s*\/[\s/]*/g;

/** `text` trimmed, with every run of slashes (and whitespace around them) made one `/`: `openai// gpt-4o` → `openai/gpt-4o`. */
export function collapseModelName(text: string): string {
  return text.trim().replace(SLASHES, '/');
}

/** The first invisible or control character of `text`, described (`U+200B at position 12`), or null when there is none. */
export function invisibleCharacter(text: string): string | null {
  const found = INVISIBLE.exec(text);
  if (!found) return null;
  const code = (found[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
  return `U+${code} at position ${found.index}`;
}

/**
 * The model name every consumer sees: trimmed, slashes collapsed. A name that still holds an invisible or control
 * character (`gpt-4o` followed by a zero-width space) is refused: no provider names a model so, and dropping it would
 * forward a name other than the one sent. Throws ProxyError `invalid_model_name`.
 */
export function normalizeModelName(model: string): string {
  const name = collapseModelName(model);
  const invisible = invisibleCharacter(name);
  if (invisible)
    throw new ProxyError('invalid_model_name', {
      message: `model ${JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}…` : name)} holds an invisible or control character (${invisible})`,
      param: 'model',
    });
  return name;
}
