// The policy shape the ledger benches measure (5 checks over 2 scopes), and the key clean-up of the Redis ones.
import type { Redis } from 'ioredis';
import type { LimitCheck } from '../src/ledger/ledger.ts';

export const HOUR = 3_600_000;
const MAX = Number.MAX_SAFE_INTEGER;

/** An agent with a shared budget: what a governed request reserves on. */
export const SCOPES = ['agent:bench', 'shared:team'];

/** What a governed agent with a shared budget pays per request: 1 h, 1 h, 24 h, shared 1 h, concurrency. */
export const CHECKS: LimitCheck[] = [
  { id: 'agent:bench/usd/1h', scope: 'agent:bench', metric: 'usd_micros', windowMs: HOUR, limit: MAX },
  { id: 'agent:bench/requests/1h', scope: 'agent:bench', metric: 'requests', windowMs: HOUR, limit: MAX },
  { id: 'agent:bench/usd/24h', scope: 'agent:bench', metric: 'usd_micros', windowMs: 24 * HOUR, limit: MAX },
  { id: 'shared:team/usd/1h', scope: 'shared:team', metric: 'usd_micros', windowMs: HOUR, limit: MAX },
  { id: 'agent:bench/concurrency', scope: 'agent:bench', metric: 'concurrency', windowMs: 0, limit: 100_000 },
];

/** A call's actual amounts. */
export const SETTLED = { usd_micros: 750, requests: 1, input_tokens: 100, output_tokens: 50, total_tokens: 150 };

/** Deletes every key under a ledger prefix's hash tag. */
export async function deletePrefix(admin: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await admin.del(...keys);
  } while (cursor !== '0');
}
