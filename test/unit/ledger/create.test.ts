// createLedger for the embedded kind: empty start, restart from the journal, rebuild from history, compaction on start.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
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

async function open(config: Config, extra: { scanHistory?: (o: { dir: string }) => AsyncIterable<HistoryUsageEntry> } = {}): Promise<{ ledger: Ledger; report: LedgerLoadReport }> {
  let report: LedgerLoadReport | undefined;
  const ledger = await createLedger({ config, onLoaded: (loaded) => { report = loaded; }, ...extra });
  assert.ok(report);
  return { ledger, report };
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
    assert.equal((await readFile(journalPath(config), 'utf8')).trimEnd().split('\n').length, 3, 'replayed records are not written twice');
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

  it('compacts records older than retention at start-up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-create-'));
    const config = configFor(dir);
    await mkdir(config.dataDir, { recursive: true });
    const now = Date.now();
    await writeFile(journalPath(config), [
      JSON.stringify({ t: now - 40 * DAY, s: ['agent:a'], a: { usd_micros: 1 } }),
      JSON.stringify({ t: now - 1000, s: ['agent:a'], a: { usd_micros: 2 } }),
      '{"t":',
    ].join('\n'));
    const { ledger, report } = await open(config);
    assert.deepEqual([report.source, report.records, report.compacted], ['journal', 1, 2]);
    assert.equal((await ledger.standing([usd]))[0].used, 2);
    await ledger.close();
    assert.equal((await readFile(journalPath(config), 'utf8')).trimEnd().split('\n').length, 1);
    await rm(dir, { recursive: true });
  });
});
