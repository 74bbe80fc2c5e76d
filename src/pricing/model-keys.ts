// Which names a (provider, model) pair is looked up under: gateway vendor prefixes, date suffixes, operator-file keys.

/** Gateways that resell vendors' models at the vendors' prices, under `<vendor>/<model>` names. */
export const PASS_THROUGH_GATEWAYS: ReadonlySet<string> = new Set(['openrouter', 'vercel']);

export interface ModelRef {
  readonly provider: string;
  readonly model: string;
}

/**
 * Price-table lookups, most trusted first. Through a pass-through gateway, `anthropic/claude-sonnet-4` is priced as
 * Anthropic's claude-sonnet-4 (the vendor's entry carries cache rates the gateway's entry often lacks), then as the
 * gateway's own entry. Elsewhere a `<vendor>/<model>` name is tried as given first (a host's own price, e.g. Together's
 * `meta-llama/...`), then under the vendor (operator-defined providers the table does not know).
 */
export function tableLookups(provider: string, model: string): ModelRef[] {
  const p = provider.trim().toLowerCase();
  const m = model.trim().toLowerCase();
  const slash = m.indexOf('/');
  if (slash <= 0 || slash === m.length - 1) return [{ provider: p, model: m }];
  const viaVendor = { provider: m.slice(0, slash), model: m.slice(slash + 1) };
  const asGiven = { provider: p, model: m };
  return PASS_THROUGH_GATEWAYS.has(p) ? [viaVendor, asGiven] : [asGiven, viaVendor];
}

/**
 * Operator price-file keys to try, most specific first: `<provider>/<model>`, `<model>`, then (through a gateway)
 * the bare model without its vendor; each also without a date suffix (`-20250514`, `-2025-05-14`).
 */
export function operatorKeys(provider: string, model: string): string[] {
  const p = provider.trim().toLowerCase();
  const m = model.trim().toLowerCase();
  const names = [m];
  const slash = m.indexOf('/');
  if (PASS_THROUGH_GATEWAYS.has(p) && slash > 0 && slash < m.length - 1) names.push(m.slice(slash + 1));
  const keys: string[] = [];
  const add = (key: string) => {
    if (!keys.includes(key)) keys.push(key);
  };
  for (const name of names) {
    add(`${p}/${name}`);
    add(name);
  }
  for (const name of names) {
    const undated = withoutDateSuffix(name);
    if (undated === name) continue;
    add(`${p}/${undated}`);
    add(undated);
  }
  return keys;
}

export function withoutDateSuffix(model: string): string {
  return model.replace(/-(?:\d{8}|\d{4}-\d{2}-\d{2})$/, '');
}
