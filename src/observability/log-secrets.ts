// The secrets no audit line, live-feed frame or operational log line may carry: provider keys, agent secrets, the UI token.
import { KeyWindows, maskRuns } from '../upstream/key-windows.ts';

/**
 * Masks any run of 12 or more characters of a known secret (any case, JSON escapes: the same matcher as for an
 * upstream's answer) in text about to be logged. An agent can put anything in the fields that are logged (its model
 * string, its path), an upstream in its error messages and ids: what they hold is masked at the last step, the line.
 * Secrets shorter than 12 characters are not masked (the documented limit, as for provider keys).
 */
export class LogSecrets {
  #fixed: readonly string[];
  #agents: readonly string[] = [];
  #windows: KeyWindows | null;
  #generation = 0;

  /** `fixed`: provider keys and the UI token, known at start (absent ones skipped). */
  constructor(fixed: readonly (string | null | undefined)[]) {
    this.#fixed = fixed.filter((secret): secret is string => typeof secret === 'string' && secret !== '');
    this.#windows = KeyWindows.of(this.#fixed);
  }

  /** A provider key added while running (the key pool: from the UI, the API or the file). */
  addProviderSecret(secret: string): void {
    if (secret === '' || this.#fixed.includes(secret)) return;
    this.#fixed = [...this.#fixed, secret];
    this.#windows = KeyWindows.of([...this.#fixed, ...this.#agents]);
    this.#generation += 1;
  }

  /** The agents' secrets (and history tokens) as the registry holds them now: the table is rebuilt when they change. */
  setAgentSecrets(secrets: readonly string[]): void {
    const next = [...new Set(secrets)].sort();
    if (next.length === this.#agents.length && next.every((secret, i) => secret === this.#agents[i])) return;
    this.#agents = next;
    this.#windows = KeyWindows.of([...this.#fixed, ...next]);
    this.#generation += 1;
  }

  /** Changes whenever the secrets do: what was masked under an older generation must be masked again. */
  get generation(): number {
    return this.#generation;
  }

  /** The text with every run of a secret replaced by [REDACTED] (the same string when there is none). */
  mask(text: string): string {
    const windows = this.#windows;
    if (windows === null || text.length < 12 || !windows.occursIn(text)) return text;
    const bytes = Buffer.from(text, 'utf8');
    const masked = maskRuns(windows, bytes);
    return masked === bytes ? text : masked.toString('utf8');
  }
}
