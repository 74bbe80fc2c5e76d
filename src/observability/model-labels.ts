// The model label of /metrics series: bounded in length and in how many are held; one no series uses any more is forgotten.

/**
 * Distinct models labelled at once; later ones count as "other". The model is what the agent sent: an agent making up a
 * model name per call (even one the provider refuses) would otherwise add series to every counter without end.
 */
export const MAX_MODEL_LABELS = 500;
const MAX_MODEL_LABEL_LENGTH = 120;
export const OTHER_MODEL = 'other';
export const NO_MODEL = 'none';

/** A label's histogram series: the provider, and the model as labelled there (without the provider). */
export interface HistogramLabels {
  readonly provider: string;
  readonly model: string;
}

export class ModelLabels {
  readonly #known = new Map<string, HistogramLabels>();

  /** The label of `provider/model`: cut when long, "other" once MAX_MODEL_LABELS others are held. */
  label(provider: string, model: string): string {
    const full = `${provider}/${model}`;
    const value = full.length > MAX_MODEL_LABEL_LENGTH ? `${full.slice(0, MAX_MODEL_LABEL_LENGTH)}…` : full;
    if (this.#known.has(value)) return value;
    if (this.#known.size >= MAX_MODEL_LABELS) return OTHER_MODEL;
    this.#known.set(value, { provider, model: value.slice(provider.length + 1) });
    return value;
  }

  /**
   * Forgets the labels not in `inUse` (their series were dropped with the agents that had them), so the room goes to
   * models seen later instead of "other" for the rest of the process's life; returns their histogram series to drop.
   */
  retain(inUse: ReadonlySet<string>): HistogramLabels[] {
    const dropped: HistogramLabels[] = [];
    for (const [label, histogram] of this.#known) {
      if (inUse.has(label)) continue;
      this.#known.delete(label);
      dropped.push(histogram);
    }
    return dropped;
  }
}
