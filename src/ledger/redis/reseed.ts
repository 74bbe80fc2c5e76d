// Re-seeds a Redis ledger from session history after Redis lost its data: once per ledger life, only what came before it.
import { rebuildFromHistory, type HistoryUsageEntry, type RebuildResult } from '../rebuild.ts';
import type { Amounts } from '../ledger.ts';
import type { RedisLedger } from './ledger.ts';
import type { RecordEntry } from './codec.ts';

/** Entries per record script call. */
export const RESEED_BATCH = 500;

export interface ReseedOptions {
  readonly ledger: RedisLedger;
  /** History entries of every replica (e.g. scanHistory over each replica's history directory, one after another). */
  readonly scan: AsyncIterable<HistoryUsageEntry>;
  /** Scopes an entry counts in: `agent:<id>` plus the shared budgets its agent draws from. */
  readonly scopesFor: (entry: HistoryUsageEntry) => readonly string[];
  readonly retentionMs: number;
  /** Names this re-seed in Redis (who ran it, when); stored as the life's re-seed marker. */
  readonly marker: string;
  readonly now?: () => number;
  readonly onProgress?: (progress: { readonly records: number; readonly skipped: number }) => void;
}

export type ReseedResult =
  | (RebuildResult & { readonly done: true; readonly bornAt: number; readonly live: number })
  | { readonly done: false; readonly reason: string };

/**
 * Counts every history entry older than the current ledger life (`bornAt`: when this Redis started holding the ledger)
 * into it. Entries from `bornAt` on were already recorded live by the replicas and are skipped (`live`). A life is
 * re-seeded once: a second run, on any replica, returns done: false naming the first one.
 */
export async function reseedRedisLedger(options: ReseedOptions): Promise<ReseedResult> {
  const { ledger } = options;
  const life = await ledger.lifeInfo();
  if (life.reseeded !== null) return { done: false, reason: `this ledger life was already re-seeded (${life.reseeded})` };
  if (!(await ledger.claimReseed(options.marker))) {
    const again = await ledger.lifeInfo();
    return { done: false, reason: `another re-seed claimed this ledger life (${again.reseeded ?? 'unknown'})` };
  }
  const writer = new BatchedRecorder(ledger);
  let live = 0;
  const result = await rebuildFromHistory({
    scan: options.scan,
    ledger: writer,
    now: options.now ?? Date.now,
    retentionMs: options.retentionMs,
    scopesFor: (entry) => {
      const at = Date.parse(entry.ts);
      if (Number.isFinite(at) && at >= life.bornAt) {
        live += 1;
        return [];
      }
      return options.scopesFor(entry);
    },
    onProgress: options.onProgress,
  });
  await writer.flush();
  // rebuildFromHistory counts the live entries as skipped (no scope); report them apart.
  return { ...result, skipped: result.skipped - live, done: true, bornAt: life.bornAt, live };
}

/** A record() sink that sends RESEED_BATCH entries per script call; a failed batch rejects the record() that sent it. */
class BatchedRecorder {
  private pending: RecordEntry[] = [];

  constructor(private readonly ledger: RedisLedger) {}

  async record(input: { readonly scopes: readonly string[]; readonly amounts: Amounts; readonly at: number }): Promise<void> {
    this.pending.push(input);
    if (this.pending.length >= RESEED_BATCH) await this.flush();
  }

  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (batch.length > 0) await this.ledger.recordMany(batch);
  }
}
