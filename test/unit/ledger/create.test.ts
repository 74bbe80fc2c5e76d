// createLedger for the embedded kind: empty start, restart from the journal, rebuild from history, compaction after start (and kill -9 around it).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLedger, journalPath, type LedgerLoadReport } from '../../../src/ledger/create.ts';
import type { CompactResult } from '../../../src/ledger/journal/journal.ts';
import type { Config } from '../../../src/config/config.ts';
import type { Ledger, LimitCheck } from '../../../src/ledger/ledger.ts';
import type { HistoryUsageEntry } from '../../../src/ledger/rebuild.ts';
import { scanHistorySince } from '../../../src/history/recent-scan.ts';

const DAY = 86_400_000;
const usd: LimitCheck = { id: 'usd', scope: 'agent:a', metric: 'usd_micros', windowMs: DAY, limit: 1_000_000 };

function configFor(dir: string): Config {
  const partial = { dataDir: join(dir, 'data'), historyDir: join(dir, 'history'), ledger: { kind: 'memory' } };
  return partial as unknown as Config;
}

async function open(
  config: Config,
  extra: { scanHistory?: (o: { dir: string }) => AsyncIterable<HistoryUsageEntry>; scanRecentHistory?: typeof scanHistorySince } = {},
): Promise<{ ledger: Ledger; report: LedgerLoadReport; compacted: Promise<CompactResult> }> {
  let report: LedgerLoadReport | undefined;
  let compactedNow: (result: CompactResult) => void = () => undefined;
  const compacted = new Promise<CompactResult>((resolve) => {
    compactedNow = resolve;
  });
  const ledger = await createLedger({
    config,
    onLoaded: (loaded) => {
      report = loaded;
    },
    onCompacted: (result) => compactedNow(result),
    ...extra,
  });
  assert.ok(report);
  return { ledger, report, compacted };
}

/** The journal's settlement lines (start-up writes watermark lines `{"t":..,"m":[..]}` too). */
function records(text: string): string[] {
  return text
    .trimEnd()
    .split('\n')
    .filter((line) => !line.includes('"m":'));
}

async function settle(ledger: Ledger, usdMicros: number): Promise<void> {
  const id = `r-${Math.random()}`;
  await ledger.reserve({ id, scopes: ['agent:a'], amounts: { usd_micros: usdMicros }, checks: [usd], leaseMs: 60_000 });
  assert.equal(await ledger.settle({ id, amounts: { usd_micros: usdMicros } }), true);
}

describe('createLedger (memory)', () => {
  it('starts empty, then restores settled spend from its journal after a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-create-'));
    const config = configFor(dir);
    const first = await open(config);
    assert.equal(first.report.source, 'empty');
    await settle(first.ledger, 700);
    await settle(first.ledger, 50);
    await first.ledger.close();

    const second = await open(config);
    assert.equal(second.report.source, 'journal');
    assert.equal(second.report.records, 2);
    assert.equal((await second.ledger.standing([usd]))[0].used, 750);
    await settle(second.ledger, 1);
    await second.ledger.close();
    const lines = records(await readFile(journalPath(config), 'utf8')).length;
    assert.ok(lines <= 3, `${lines} lines for 3 settlements: replayed records are not written twice`);
    const third = await open(config);
    assert.equal((await third.ledger.standing([usd]))[0].used, 751);
    await third.ledger.close();
    await rm(dir, { recursive: true });
  });

  it('rebuilds from session history when the journal is missing, and journals what it rebuilt', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-create-'));
    const config = configFor(dir);
    await mkdir(config.historyDir, { recursive: true });
    const seen: string[] = [];
    const scanHistory = async function* (options: { dir: string }): AsyncGenerator<HistoryUsageEntry> {
      seen.push(options.dir);
      yield { claw_id: 'a', ts: new Date(Date.now() - 60_000).toISOString(), usage: { cost_micros: 400 } };
      yield { claw_id: 'a', ts: new Date(Date.now() - 30_000).toISOString(), usage: { reported_cost_usd: 0.0001 } };
    };
    const first = await open(config, { scanHistory });
    assert.deepEqual(seen, [config.historyDir]);
    assert.equal(first.report.source, 'history');
    assert.equal(first.report.records, 2);
    assert.equal((await first.ledger.standing([usd]))[0].used, 500);
    await first.ledger.close();

    const second = await open(config, { scanHistory });
    assert.equal(second.report.source, 'journal', 'the journal now exists, history is not read again');
    assert.deepEqual(seen, [config.historyDir]);
    assert.equal((await second.ledger.standing([usd]))[0].used, 500);
    await second.ledger.close();
    await rm(dir, { recursive: true });
  });

  it('compacts records older than retention after start-up, and removes temp files a crash left', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-create-'));
    const config = configFor(dir);
    await mkdir(config.dataDir, { recursive: true });
    const now = Date.now();
    await writeFile(
      journalPath(config),
      [
        JSON.stringify({ t: now - 40 * DAY, s: ['agent:a'], a: { usd_micros: 1 } }),
        JSON.stringify({ t: now - 1000, s: ['agent:a'], a: { usd_micros: 2 } }),
        '{"t":',
      ].join('\n'),
    );
    await writeFile(`${journalPath(config)}.rewrite-4242.tmp`, 'a rewrite cut by a crash');
    await writeFile(`${journalPath(config)}.compact-4243.tmp`, "an older version's");
    const { ledger, report, compacted } = await open(config);
    // the record past the retention counts in the lifetime total only, and is folded into a `life:` line by the rewrite
    assert.deepEqual([report.source, report.records, report.expired, report.skipped], ['journal', 1, 1, 1]);
    assert.deepEqual(await readdir(config.dataDir), ['journal.jsonl', 'tollgate.lock'], 'temp files of rewrites cut by a crash are removed');
    assert.equal((await ledger.standing([usd]))[0].used, 2);
    assert.equal((await ledger.standing([{ ...usd, lifetime: true }]))[0].used, 3);
    assert.equal((await compacted).rewritten, true);
    const held = records(await readFile(journalPath(config), 'utf8'));
    assert.equal(held.length, 2, held.join('\n'));
    assert.ok(held.some((line) => line.includes('"life:agent:a"')));
    assert.equal((await ledger.standing([{ ...usd, lifetime: true }]))[0].used, 3);
    await ledger.close();
    const again = await open(config);
    assert.deepEqual(
      (await again.ledger.standing([usd, { ...usd, lifetime: true }])).map((standing) => standing.used),
      [2, 3],
    );
    await again.ledger.close();
    await rm(dir, { recursive: true });
  });

  it('rewrites a journal of one line per settlement as the ledger holds it (folded), after start-up, losing nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-create-'));
    const config = configFor(dir);
    await mkdir(config.dataDir, { recursive: true });
    const now = Date.now();
    const lines: string[] = [];
    // 3,000 settlements spread over two seconds a minute ago, and 3,000 over the hour three days ago (old usage folds coarser)
    for (let i = 0; i < 3_000; i++) lines.push(JSON.stringify({ t: now - 60_000 + (i % 2_000), s: ['agent:a', 'pool:p'], a: { usd_micros: 2, requests: 1 } }));
    for (let i = 0; i < 3_000; i++) lines.push(JSON.stringify({ t: now - 3 * DAY + i * 1_000, s: ['agent:a'], a: { usd_micros: 5, requests: 1 } }));
    await writeFile(journalPath(config), lines.join('\n') + '\n');
    const week: LimitCheck = { ...usd, windowMs: 7 * DAY };
    const poolHour: LimitCheck = { id: 'pool', scope: 'pool:p', metric: 'usd_micros', windowMs: 3_600_000, limit: 1_000_000 };
    const first = await open(config);
    assert.equal(first.report.records, 6_000);
    const compacted = await first.compacted;
    assert.ok(compacted.dropped > 5_900, `compacted ${compacted.dropped} lines`);
    const held = (await readFile(journalPath(config), 'utf8')).trimEnd().split('\n').length;
    assert.ok(held < 100, `6,000 lines rewritten as ${held}`);
    assert.deepEqual(
      (await first.ledger.standing([usd, week, poolHour])).map((standing) => standing.used),
      [6_000, 21_000, 6_000],
    );
    await first.ledger.close();
    const second = await open(config);
    assert.deepEqual(
      (await second.ledger.standing([usd, week, poolHour])).map((standing) => standing.used),
      [6_000, 21_000, 6_000],
      'the rewritten journal replays to the same standing',
    );
    await second.ledger.close();
    await rm(dir, { recursive: true });
  });
  it('starts from a journal mostly past the retention without rewriting it first; a kill -9 at ready or after the rewrite loses nothing and counts nothing twice', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-create-'));
    const config = configFor(dir);
    await mkdir(config.dataDir, { recursive: true });
    const now = Date.now();
    const watermark = now - 60_000;
    const expired = Array.from({ length: 300 }, (_, i) =>
      JSON.stringify({ t: now - 40 * DAY + i * 1_000, s: ['agent:a'], a: { usd_micros: 10, requests: 1 } }),
    );
    const fresh = Array.from({ length: 20 }, (_, i) => JSON.stringify({ t: now - DAY / 2 + i * 1_000, s: ['agent:a'], a: { usd_micros: 100, requests: 1 } }));
    await writeFile(
      journalPath(config),
      [
        JSON.stringify({ t: now - 50 * DAY, s: ['life:agent:a'], a: { usd_micros: 5_000 } }), // folded by an earlier rewrite
        ...expired,
        '{"t":12,"s":["agent:a"],"a":{"usd_mic', // a line cut by a failed write, then written past
        ...fresh,
        JSON.stringify({ t: watermark, m: [] }),
        JSON.stringify({ t: watermark + 1_000, s: ['agent:a'], a: { usd_micros: 7, requests: 1 }, r: 'r1' }),
      ].join('\n') + '\n',
    );
    // history: r1 is in the journal; r2 ended after the watermark and is not (the crash came between its two lines)
    await mkdir(join(config.historyDir, 'a'), { recursive: true });
    const entry = (id: string, endedAt: number, micros: number) =>
      JSON.stringify({
        version: 1,
        id: `hist1_${id}`,
        ts: new Date(endedAt - 100).toISOString(),
        claw_id: 'a',
        usage: { cost_micros: micros },
        request_id: id,
        latency_ms: 100,
      });
    await writeFile(join(config.historyDir, 'a', 'history.jsonl'), `${entry('r1', watermark + 1_000, 7)}\n${entry('r2', watermark + 2_000, 11)}\n`);
    const lifetime: LimitCheck = { ...usd, lifetime: true };
    const requests: LimitCheck = { ...usd, id: 'requests', metric: 'requests' };
    const expected = { day: 2_000 + 7 + 11, requests: 22, lifetime: 5_000 + 3_000 + 2_018 };
    const standing = async (ledger: Ledger) => {
      const [day, calls, life] = await ledger.standing([usd, requests, lifetime]);
      return { day: day.used, requests: calls.used, lifetime: life.used };
    };
    const hasExpiredLines = async () => (await readFile(journalPath(config), 'utf8')).includes(expired[0]);
    const child = fileURLToPath(new URL('./create-crash-child.ts', import.meta.url));
    const killedAt = (when: 'ready' | 'compacted') =>
      new Promise<void>((resolve, reject) => {
        const proc = spawn(process.execPath, ['--import', 'tsx', child, config.dataDir, config.historyDir, when], { stdio: ['ignore', 'inherit', 'inherit'] });
        proc.on('error', reject);
        proc.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child ended with ${code ?? signal}`))));
      });

    // killed as soon as the ledger is ready: the replay did not touch the file, r2 was charged (with its id) at its end
    await killedAt('ready');
    assert.ok(await hasExpiredLines(), 'start-up left the file as it was until its background compaction');
    assert.ok((await readFile(journalPath(config), 'utf8')).includes('"r":"r2"'));
    // killed right after the background rewrite: the file holds what the ledger held
    await killedAt('compacted');
    assert.ok(!(await hasExpiredLines()), 'the background compaction rewrote the file');

    const first = await open(config, { scanRecentHistory: scanHistorySince });
    assert.equal(first.report.reconciliation?.charged, 0, 'r2 is not charged a second time');
    assert.deepEqual(await standing(first.ledger), expected);
    await first.compacted;
    await first.ledger.close();
    const held = records(await readFile(journalPath(config), 'utf8')).length;
    assert.ok(held <= 25, `${held} lines after compaction`);
    const second = await open(config, { scanRecentHistory: scanHistorySince });
    assert.deepEqual(await standing(second.ledger), expected, 'the compacted journal replays to the same standing');
    await second.ledger.close();
    await rm(dir, { recursive: true });
  });

  it('is ready before the compaction after start-up rewrites an expired-heavy journal, which then holds only what the ledger does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-create-'));
    const config = configFor(dir);
    await mkdir(config.dataDir, { recursive: true });
    const now = Date.now();
    const lines = Array.from({ length: 2_000 }, (_, i) =>
      JSON.stringify({ t: now - 60 * DAY + i * 30 * 60_000, s: ['agent:a', 'pool:p'], a: { usd_micros: 3, requests: 1 } }),
    );
    await writeFile(journalPath(config), lines.join('\n') + '\n');
    const expiredCount = lines.filter((line) => JSON.parse(line).t <= now - 35 * DAY).length;
    const { ledger, report, compacted } = await open(config);
    assert.equal(report.expired, expiredCount);
    assert.equal(report.records, 2_000 - expiredCount);
    // createLedger has returned: the file is still the one it replayed, plus the start-up watermark (the rewrite waits)
    assert.ok((await readFile(journalPath(config), 'utf8')).startsWith(lines.join('\n') + '\n{"t":'));
    const result = await compacted;
    assert.equal(result.rewritten, true);
    const text = await readFile(journalPath(config), 'utf8');
    assert.ok(!text.includes(lines[0]), 'expired records are gone from the file');
    assert.equal((await ledger.standing([{ ...usd, lifetime: true }]))[0].used, 6_000);
    await ledger.close();
    const again = await open(config);
    assert.equal((await again.ledger.standing([{ ...usd, lifetime: true }]))[0].used, 6_000);
    assert.equal((await again.ledger.standing([{ ...usd, windowMs: 40 * DAY }]))[0].used, 3 * (2_000 - expiredCount));
    await again.ledger.close();
    await rm(dir, { recursive: true });
  });
});
