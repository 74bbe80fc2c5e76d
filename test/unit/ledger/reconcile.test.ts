// Start-up reconciliation of the embedded ledger with history: what the journal lacks is charged once, by request id.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLedger, journalPath, type LedgerLoadReport } from '../../../src/ledger/create.ts';
import type { Config } from '../../../src/config/config.ts';
import type { Ledger, LimitCheck } from '../../../src/ledger/ledger.ts';
import { scanHistory } from '../../../src/history/reader.ts';
import { scanHistorySince } from '../../../src/history/recent-scan.ts';
import { reconcileWithHistory } from '../../../src/ledger/reconcile.ts';
import type { HistoryUsageEntry } from '../../../src/ledger/rebuild.ts';

const DAY = 86_400_000;
const usdOf = (agent: string): LimitCheck => ({ id: `usd-${agent}`, scope: `agent:${agent}`, metric: 'usd_micros', windowMs: DAY, limit: 1e12 });
const requestsOf = (agent: string): LimitCheck => ({ id: `req-${agent}`, scope: `agent:${agent}`, metric: 'requests', windowMs: DAY, limit: 1e12 });

function configFor(dir: string): Config {
  return { dataDir: join(dir, 'data'), historyDir: join(dir, 'history'), ledger: { kind: 'memory' } } as unknown as Config;
}

async function open(config: Config): Promise<{ ledger: Ledger; report: LedgerLoadReport }> {
  let report: LedgerLoadReport | undefined;
  const ledger = await createLedger({ config, scanHistory, scanRecentHistory: scanHistorySince, onLoaded: (loaded) => (report = loaded) });
  assert.ok(report);
  return { ledger, report };
}

/** A history line as tollgate writes it (the fields reconciliation reads). */
function historyLine(input: { id: string; agent: string; endedAt: number; micros: number }): string {
  const latency = 250;
  return JSON.stringify({
    version: 1,
    id: `hist1_${input.id}`,
    ts: new Date(input.endedAt - latency).toISOString(),
    claw_id: input.agent,
    path: '/v1/chat/completions',
    requested_model: 'openai/gpt-4o',
    effective_provider: 'openai',
    effective_model: 'gpt-4o',
    status_code: 200,
    stream: false,
    response: { format: 'json', json: {} },
    usage: { prompt_tokens: 10, completion_tokens: 5, cost_micros: input.micros },
    request_id: input.id,
    latency_ms: latency,
  });
}

function journalRecord(input: { id: string; agent: string; at: number; micros: number }): string {
  return JSON.stringify({ t: input.at, s: [`agent:${input.agent}`], a: { usd_micros: input.micros, requests: 1 }, r: input.id });
}

async function used(ledger: Ledger, agent: string): Promise<{ usd: number; requests: number }> {
  const [usd, requests] = await ledger.standing([usdOf(agent), requestsOf(agent)]);
  return { usd: usd.used, requests: requests.used };
}

describe('start-up reconciliation (embedded ledger against session history)', () => {
  it('charges once what history has and the journal lacks (a missing line, a torn one), skips torn history, ignores duplicates and what ended before the watermark', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-reconcile-'));
    const config = configFor(dir);
    const now = Date.now();
    const watermark = now - 60_000;
    await mkdir(config.dataDir, { recursive: true });
    // the last process's journal: a watermark, r1 and r2 by id, and r5's line torn by the kill
    await writeFile(
      journalPath(config),
      [
        JSON.stringify({ t: watermark - 10_000, s: ['agent:a'], a: { usd_micros: 999, requests: 1 } }), // r0, folded before the watermark
        JSON.stringify({ t: watermark, m: [] }),
        journalRecord({ id: 'r1', agent: 'a', at: watermark + 1_000, micros: 100 }),
        journalRecord({ id: 'r2', agent: 'a', at: watermark + 2_000, micros: 200 }),
      ].join('\n') +
        '\n' +
        journalRecord({ id: 'r5', agent: 'a', at: watermark + 5_000, micros: 50 }).slice(0, 30),
    );
    for (const agent of ['a', 'b']) await mkdir(join(config.historyDir, agent), { recursive: true });
    await writeFile(
      join(config.historyDir, 'a', 'history.jsonl'),
      [
        historyLine({ id: 'r0', agent: 'a', endedAt: watermark - 10_000, micros: 999 }),
        historyLine({ id: 'r1', agent: 'a', endedAt: watermark + 1_000, micros: 100 }),
        historyLine({ id: 'r2', agent: 'a', endedAt: watermark + 2_000, micros: 200 }),
        historyLine({ id: 'r3', agent: 'a', endedAt: watermark + 3_000, micros: 300 }),
        historyLine({ id: 'r3', agent: 'a', endedAt: watermark + 3_000, micros: 300 }), // the same call twice
        historyLine({ id: 'r5', agent: 'a', endedAt: watermark + 5_000, micros: 50 }),
      ].join('\n') +
        '\n' +
        historyLine({ id: 'r6', agent: 'a', endedAt: watermark + 6_000, micros: 7 }).slice(0, 80),
    ); // torn by the kill
    await writeFile(join(config.historyDir, 'b', 'history.jsonl'), historyLine({ id: 'r4', agent: 'b', endedAt: watermark + 4_000, micros: 400 }) + '\n');

    const first = await open(config);
    const report = first.report.reconciliation;
    assert.ok(report);
    assert.equal(report.status, 'reconciled');
    assert.equal(report.watermark, new Date(watermark).toISOString());
    assert.deepEqual(
      {
        checked: report.checked,
        journaled: report.journaled,
        charged: report.charged,
        charged_micros: report.charged_micros,
        duplicates: report.duplicates,
        skipped_lines: report.skipped_lines,
      },
      { checked: 6, journaled: 2, charged: 3, charged_micros: 750, duplicates: 1, skipped_lines: 1 },
    );
    assert.deepEqual(await used(first.ledger, 'a'), { usd: 999 + 100 + 200 + 300 + 50, requests: 5 });
    assert.deepEqual(await used(first.ledger, 'b'), { usd: 400, requests: 1 });
    await first.ledger.close();

    // nothing twice: the next start finds the calls it charged in the journal (by id, or behind its watermark)
    const second = await open(config);
    assert.equal(second.report.reconciliation?.charged, 0);
    assert.deepEqual(await used(second.ledger, 'a'), { usd: 1_649, requests: 5 });
    assert.deepEqual(await used(second.ledger, 'b'), { usd: 400, requests: 1 });
    await second.ledger.close();
    await rm(dir, { recursive: true });
  });

  it('a journal without a watermark (an older version) is not matched by id: nothing is charged, and that is reported', async () => {
    const entries: HistoryUsageEntry[] = [{ claw_id: 'a', ts: new Date().toISOString(), request_id: 'x', usage: { cost_micros: 5 } }];
    let recorded = 0;
    const report = await reconcileWithHistory({
      journaled: { watermark: null, requestIds: new Set() },
      scan: async function* () {
        yield* entries;
      },
      ledger: {
        record: async () => {
          recorded += 1;
        },
      },
      scopesFor: (entry) => [`agent:${entry.claw_id}`],
      now: Date.now(),
      retentionMs: DAY,
    });
    assert.equal(report.status, 'no_watermark');
    assert.equal(recorded, 0);
  });
});
