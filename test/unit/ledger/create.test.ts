// createLedger for the embedded kind: empty start, restart from the journal, rebuild from history, compaction on start.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLedger, journalPath, type LedgerLoadReport } from '../../../src/ledger/create.ts';
import type { Config } from '../../../src/config/config.ts';
import type { Ledger, LimitCheck } from '../../../src/ledger/ledger.ts';
import type { HistoryUsageEntry } from '../../../src/ledger/rebuild.ts';

const DAY = 86_400_000;
const usd: LimitCheck = { id: 'usd', scope: 'agent:a', metric: 'usd_micros', windowMs: DAY, limit: 1_000_000 };

function configFor(dir: string): Config {
  const partial = { dataDir: join(dir, 'data'), historyDir: join(dir, 'history'), ledger: { kind: 'memory' } };
  return partial as unknown as Config;
}

async function open(
  config: Config,
  extra: { scanHistory?: (o: { dir: string }) => AsyncIterable<HistoryUsageEntry> } = {},
): Promise<{ ledger: Ledger; report: LedgerLoadReport }> {
  let report: LedgerLoadReport | undefined;
  const ledger = await createLedger({
    config,
    onLoaded: (loaded) => {
      report = loaded;
    },
    ...extra,
  });
  assert.ok(report);
  return { ledger, report };
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

  it('compacts records older than retention at start-up, and removes temp files a crash left', async () => {
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
    const { ledger, report } = await open(config);
    // the record past the retention stays in the lifetime total, as a `life:` line replayed with the fresh one
    assert.deepEqual([report.source, report.records, report.compacted], ['journal', 2, 2]);
    assert.deepEqual(await readdir(config.dataDir), ['journal.jsonl', 'tollgate.lock'], 'temp files of rewrites cut by a crash are removed');
    assert.equal((await ledger.standing([usd]))[0].used, 2);
    assert.equal((await ledger.standing([{ ...usd, lifetime: true }]))[0].used, 3);
    await ledger.close();
    assert.equal(records(await readFile(journalPath(config), 'utf8')).length, 2);
    await rm(dir, { recursive: true });
  });

  it('rewrites a journal of one line per settlement as the ledger holds it (folded), at start-up, losing nothing', async () => {
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
    assert.ok(first.report.compacted > 5_900, `compacted ${first.report.compacted} lines`);
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
});
