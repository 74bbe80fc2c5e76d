// Test support: run a suite on either ledger (for Redis a private key prefix, required up front and dropped after).
import { dropPrefix, REDIS_URL, requireRedis, uniquePrefix } from '../unit/ledger/redis-test-support.ts';
import { startHarness, type Harness, type HarnessOptions } from './harness.ts';
import { startUi, type UiFixture } from './ui-server.ts';

export type LedgerKind = 'memory' | 'redis';

export interface LedgerChoice {
  /** Environment for the proxy: nothing for the embedded ledger, TOLLGATE_LEDGER/REDIS_URL/prefix for Redis. */
  readonly env: Record<string, string>;
  /** Fails (never skips) when Redis is needed and not reachable. */
  ready(): Promise<void>;
  /** Removes the Redis keys the suite wrote. */
  drop(): Promise<void>;
}

export function ledgerChoice(kind: LedgerKind, label: string): LedgerChoice {
  if (kind === 'memory') return { env: {}, ready: async () => undefined, drop: async () => undefined };
  const prefix = uniquePrefix(label);
  return {
    env: { TOLLGATE_LEDGER: 'redis', REDIS_URL, TOLLGATE_REDIS_PREFIX: prefix },
    ready: () => requireRedis(),
    drop: () => dropPrefix(prefix),
  };
}

export interface GovernedProxy {
  readonly h: Harness;
  readonly ui: UiFixture;
  close(): Promise<void>;
}

/** A harness on the chosen ledger with fail mode closed (a check that cannot run is a 503, never a pass) and its UI. */
export async function startGoverned(input: { kind: LedgerKind; label: string; harness: HarnessOptions }): Promise<GovernedProxy> {
  const chosen = ledgerChoice(input.kind, input.label);
  await chosen.ready();
  const h = await startHarness({ ...input.harness, env: { CLLAMA_BUDGET_FAIL_MODE: 'closed', ...input.harness.env, ...chosen.env } });
  const ui = await startUi(h);
  return {
    h,
    ui,
    async close() {
      await ui.close();
      await h.close();
      await chosen.drop();
    },
  };
}
