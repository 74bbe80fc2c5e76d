// Builds the configured ledger at start-up: the embedded one from its journal (replayed, then compacted in the background) or history; or Redis.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import type { Ledger } from './ledger.ts';
import { LEDGER_RETENTION_MS } from './ledger.ts';
import {
  Journal,
  JOURNAL_FILE_NAME,
  removeStaleRewrites,
  replayJournal,
  type CompactResult,
  type JournaledCalls,
  type LedgerSnapshot,
} from './journal/journal.ts';
import { lockDataDir, type DataDirLock } from './data-dir-lock.ts';
import { MemoryLedger } from './memory.ts';
import { rebuildFromHistory, type HistoryUsageEntry } from './rebuild.ts';
import { reconcileWithHistory, type ReconcileReport } from './reconcile.ts';
import { MemorySharedState, type SharedState } from './shared-state.ts';
import type { GroupMap } from './budget-groups.ts';

export interface LedgerLoadProgress {
  readonly phase: 'replay' | 'rebuild';
  readonly records: number;
  readonly skipped: number;
}

/** What start-up loaded, for the start-up log. */
export interface LedgerLoadReport {
  readonly source: 'journal' | 'history' | 'empty';
  readonly file: string;
  readonly records: number;
  readonly skipped: number;
  readonly expired: number;
  /** The embedded ledger checked against session history (absent: no journal before, or no history to read). */
  readonly reconciliation?: ReconcileReport;
  readonly ms: number;
}

export interface CreateLedgerOptions {
  readonly config: Config;
  readonly onProgress?: (progress: LedgerLoadProgress) => void;
  readonly onLoaded?: (report: LedgerLoadReport) => void;
  /**
   * The compaction that follows start-up, in the background once the ledger is returned: the journal rewritten without
   * what the replay found expired or malformed, or from what the ledger holds when that halves it.
   */
  readonly onCompacted?: (result: CompactResult) => void;
  /** Problems of the running ledger that do not stop it (a failed journal compaction). */
  readonly onWarning?: (message: string) => void;
  /** Session-history reader (src/history/reader.ts scanHistory), used only when the journal is missing. */
  readonly scanHistory?: (options: { readonly dir: string }) => AsyncIterable<HistoryUsageEntry>;
  /**
   * The history entries that may have ended after `since` (history/recent-scan.ts scanHistorySince): start-up
   * reconciliation charges those the journal lacks. Not given: no reconciliation.
   */
  readonly scanRecentHistory?: (options: {
    readonly dir: string;
    readonly since: number;
    readonly onSkippedLine: () => void;
  }) => AsyncIterable<HistoryUsageEntry>;
  /** Scopes a history entry counts in when rebuilding or reconciling; default `agent:<claw_id>`. */
  readonly scopesFor?: (entry: HistoryUsageEntry) => readonly string[];
  readonly now?: () => number;
  readonly retentionMs?: number;
  /** The budget groups of the current policies (a Redis Cluster keeps each group under its own hash tag). */
  readonly budgetGroups?: () => GroupMap | null;
  /** Shared ledger connectivity (Redis up/down), for logs and events. */
  readonly onStateChange?: (change: { readonly state: 'up' | 'down'; readonly detail?: string }) => void;
}

/** Path of the embedded ledger's journal inside the data directory. */
export function journalPath(config: Pick<Config, 'dataDir'>): string {
  return join(config.dataDir, JOURNAL_FILE_NAME);
}

export async function createLedger(options: CreateLedgerOptions): Promise<Ledger> {
  const { config } = options;
  if (config.ledger.kind === 'redis') {
    // Imported through a variable so this module, and the embedded path, never load ioredis unless Redis is chosen.
    const { createRedisLedger } = (await import(REDIS_MODULE)) as RedisLedgerModule;
    const { url, keyPrefix, cluster } = config.ledger;
    // on a Cluster each budget group's keys get their own hash tag, so the fleet's ledger spreads over every shard
    const groups = cluster ? options.budgetGroups : undefined;
    return createRedisLedger({ url, keyPrefix, cluster, groups, onStateChange: options.onStateChange, onWarning: options.onWarning });
  }
  return createMemoryLedger(options);
}

/**
 * The shared coordination state beside the ledger (key health, circuits): on Redis under the ledger's prefix with
 * TOLLGATE_LEDGER=redis, in memory otherwise.
 */
export async function createSharedState(options: {
  readonly config: Config;
  readonly onStateChange?: CreateLedgerOptions['onStateChange'];
}): Promise<SharedState> {
  const { ledger } = options.config;
  if (ledger.kind !== 'redis') return new MemorySharedState();
  const { createRedisSharedState } = (await import(REDIS_SHARED_MODULE)) as RedisSharedModule;
  return createRedisSharedState({ url: ledger.url, keyPrefix: ledger.keyPrefix, cluster: ledger.cluster, onStateChange: options.onStateChange });
}

const REDIS_SHARED_MODULE = './redis/shared-state.ts';
interface RedisSharedModule {
  createRedisSharedState(options: {
    url: string;
    keyPrefix: string;
    cluster: boolean;
    onStateChange?: CreateLedgerOptions['onStateChange'];
  }): Promise<SharedState>;
}

/** How often the running embedded ledger compacts its journal (once after start-up too). */
const JOURNAL_COMPACTION_MS = 60 * 60 * 1000;

const REDIS_MODULE = './redis/ledger.ts';
interface RedisLedgerModule {
  createRedisLedger(options: {
    url: string;
    keyPrefix: string;
    cluster: boolean;
    groups?: () => GroupMap | null;
    onStateChange?: CreateLedgerOptions['onStateChange'];
    onWarning?: (message: string) => void;
  }): Ledger | Promise<Ledger>;
}

async function createMemoryLedger(options: CreateLedgerOptions): Promise<MemoryLedger> {
  const started = performance.now();
  const file = journalPath(options.config);
  // before anything reads or rewrites the journal: a second process on it fails here, the first keeps its spend
  const lock = await lockDataDir({ dir: options.config.dataDir, onWarning: options.onWarning });
  try {
    return await loadMemoryLedger({ options, file, lock, started });
  } catch (error) {
    await lock.release();
    throw error;
  }
}

async function loadMemoryLedger(input: { options: CreateLedgerOptions; file: string; lock: DataDirLock; started: number }): Promise<MemoryLedger> {
  const { options, file, started } = input;
  const now = options.now ?? Date.now;
  const retentionMs = options.retentionMs ?? LEDGER_RETENTION_MS;
  const ledger = new MemoryLedger({ now, retentionMs });
  await removeStaleRewrites(file); // a rewrite cut by a crash leaves its temp file; the journal itself is whole
  const journalExisted = await exists(file);
  let report: Omit<LedgerLoadReport, 'ms'> = { source: 'empty', file, records: 0, skipped: 0, expired: 0 };
  let lines = 0;
  let journaled: JournaledCalls | null = null;

  if (journalExisted) {
    // one pass: expired records count in lifetime totals only, malformed lines are skipped; the file is left as it is
    // until the compaction after start-up (below) rewrites it, so a crash before then replays the same file again
    const replayed = await replayJournal({
      file,
      ledger,
      retentionMs,
      now,
      onProgress: (progress) => options.onProgress?.({ phase: 'replay', ...progress }),
    });
    report = { ...report, source: 'journal', records: replayed.records, skipped: replayed.skipped, expired: replayed.expired };
    lines = replayed.lines;
    journaled = replayed.journaled;
    ledger.sweep(); // fold the replayed usage as the running ledger holds it
  }

  // Attached after the replay, so replayed records are not written again; a rebuild below is journaled.
  const snapshot = (): LedgerSnapshot => ledger.snapshot();
  const journal = await Journal.open({
    file,
    lock: input.lock,
    lines,
    now,
    compaction: {
      everyMs: JOURNAL_COMPACTION_MS,
      retentionMs,
      now,
      snapshot,
      onError: (error) => options.onWarning?.(`ledger journal compaction failed (the file is left as it was): ${error.message}`),
    },
  });
  ledger.attachJournal(journal);
  const historyDir = options.config.historyDir;
  const scopesFor = options.scopesFor ?? ((entry: HistoryUsageEntry) => [`agent:${entry.claw_id}`]);
  if (journaled && options.scanRecentHistory && historyDir) {
    // before any rewrite: the watermark and ids read above describe the file as the last process left it
    const scan = options.scanRecentHistory;
    const reconciliation = await reconcileWithHistory({
      journaled,
      scan: ({ since, onSkippedLine }) => scan({ dir: historyDir, since, onSkippedLine }),
      ledger,
      scopesFor,
      now: now(),
      retentionMs,
    });
    report = { ...report, reconciliation };
  }
  if (journalExisted) {
    journal.markStart(); // everything in history so far is in the journal now (before a rewrite, whose head keeps it)
    await journal.flush();
  }

  if (!journalExisted && options.scanHistory && historyDir && (await exists(historyDir))) {
    const rebuilt = await rebuildFromHistory({
      scan: options.scanHistory({ dir: historyDir }),
      ledger,
      now,
      retentionMs,
      scopesFor,
      onProgress: (progress) => options.onProgress?.({ phase: 'rebuild', ...progress }),
    });
    report = { ...report, source: 'history', records: rebuilt.records, skipped: rebuilt.skipped, expired: rebuilt.expired };
  }
  if (!journalExisted) {
    journal.markStart();
    await journal.flush();
  }
  options.onLoaded?.({ ...report, ms: Math.round(performance.now() - started) });
  if (lines > 0) {
    // in the background: what replay found expired or malformed goes, and a journal of one line per settlement (an
    // older tollgate's, or a long run's tail) is rewritten as held if that halves it; calls served meanwhile wait for
    // it as they do for the hourly one (their history lines cover them)
    const rewrite = report.expired + report.skipped > 0;
    journal.compact({ retentionMs, now, snapshot, rewrite }).then(
      (result) => options.onCompacted?.(result),
      (error: Error) => options.onWarning?.(`ledger journal compaction after start-up failed (the file is left as it was): ${error.message}`),
    );
  }
  return ledger;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
