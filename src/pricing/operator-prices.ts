// The operator's price file: rates that override or add to the bundled price table. Read once at start-up, validated with zod.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ModelRates } from './pricer.ts';

/** Operator rates keyed by lower-cased `<provider>/<model>` or `<model>`. */
export interface OperatorPrices {
  readonly models: ReadonlyMap<string, ModelRates>;
}

const usdPerMTok = z.number().finite().nonnegative();

const modelRatesSchema = z.strictObject({
  input_per_mtok: usdPerMTok,
  output_per_mtok: usdPerMTok,
  cache_read_per_mtok: usdPerMTok.optional(),
  cache_write_per_mtok: usdPerMTok.optional(),
});

const priceFileSchema = z.object({
  models: z.record(z.string().min(1), modelRatesSchema),
});

/** Reads and validates the price file. Throws an Error naming the file and the offending field. */
export function loadOperatorPrices(file: string): OperatorPrices {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`price file ${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  return parseOperatorPrices(text, file);
}

/** Parses price-file JSON text; `source` names the file in errors. */
export function parseOperatorPrices(text: string, source: string): OperatorPrices {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`price file ${source}: invalid JSON (${(error as Error).message})`);
  }
  const parsed = priceFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`price file ${source}: ${fieldPath(issue.path)}: ${issue.message}`);
  }
  const models = new Map<string, ModelRates>();
  for (const [name, rates] of Object.entries(parsed.data.models)) {
    const key = name.trim().toLowerCase();
    if (models.has(key)) throw new Error(`price file ${source}: models["${name}"]: duplicate of another entry (names are case-insensitive)`);
    models.set(
      key,
      Object.freeze({
        inputPerMTok: rates.input_per_mtok,
        outputPerMTok: rates.output_per_mtok,
        ...(rates.cache_read_per_mtok !== undefined ? { cacheReadPerMTok: rates.cache_read_per_mtok } : {}),
        ...(rates.cache_write_per_mtok !== undefined ? { cacheWritePerMTok: rates.cache_write_per_mtok } : {}),
      }),
    );
  }
  return { models };
}

function fieldPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((part, index) => (index === 1 && path[0] === 'models' ? `["${String(part)}"]` : index === 0 ? String(part) : `.${String(part)}`)).join('');
}
