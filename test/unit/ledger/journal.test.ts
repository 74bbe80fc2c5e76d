// The journal: ordered appends, replay with a torn last line (also after a real kill -9), compaction, write failures.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Journal, compactJournal, cutTornTail, replayJournal, type LedgerSnapshot } from '../../../src/ledger/journal/journal.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { toRow } from '../../../src/ledger/amounts.ts';
import type { LimitCheck } from '../../../src/ledger/ledger.ts';

const DAY = 86_400_000;

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tollgate-journal-'));
}

function line(t: number, scopes: string[], amounts: Record<string, number>): string {
  return JSON.stringify({ t, s: scopes, a: amounts }) + '\n';
}

const allTime = (scope: string, metric: LimitCheck['metric'] = 'usd_micros'): LimitCheck => ({ id: scope, scope, metric, windowMs: 100 * DAY, limit: 1e15 });

describe('Journal', () => {
  it('writes compact lines in append order and replays them into a ledger', async () => {
    const dir = await tempDir();
    const file = join(dir, 'sub', 'journal.jsonl');
    const journal = await Journal.open({ file });
    const now = Date.now();
    for (let i = 0; i < 1000; i++) journal.append({ at: now - 1000 + i, scopes: ['agent:a', 'shared:team'], row: toRow({ usd_micros: i, requests: 1 }) });
    await journal.flush();
    assert.deepEqual(journal.stats, { written: 1000, queued: 0, dropped: 0 });
    await journal.close();

    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 1000);
    assert.equal(lines[7], `{"t":${now - 993},"s":["agent:a","shared:team"],"a":{"usd_micros":7,"requests":1}}`);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).a.usd_micros ?? 0),
      Array.from({ length: 1000 }, (_, i) => i),
      'in append order',
    );

    const ledger = new MemoryLedger({ sweepIntervalMs: 0 });
    const result = await replayJournal({ file, ledger, retentionMs: DAY });
    assert.deepEqual([result.records, result.skipped, result.expired], [1000, 0, 0]);
    const [agent, team] = await ledger.standing([allTime('agent:a'), allTime('shared:team', 'requests')]);
    assert.equal(agent.used, (999 * 1000) / 2);
    assert.equal(team.used, 1000);
    await rm(dir, { recursive: true });
  });

  it('skips a torn last line on replay, and cuts it before appending again', async () => {
    const dir = await tempDir();
    const file = join(dir, 'journal.jsonl');
    const now = Date.now();
    await writeFile(
      file,
      line(now - 3, ['agent:a'], { usd_micros: 5 }) + line(now - 2, ['agent:a'], { usd_micros: 6 }) + '{"t":' + (now - 1) + ',"s":["agent:a"],"a":{"usd_mi',
    );
    const first = new MemoryLedger({ sweepIntervalMs: 0 });
    const replayed = await replayJournal({ file, ledger: first, retentionMs: DAY });
    assert.deepEqual([replayed.records, replayed.skipped], [2, 1]);
    assert.equal((await first.standing([allTime('agent:a')]))[0].used, 11);

    const journal = await Journal.open({ file });
    journal.append({ at: now, scopes: ['agent:a'], row: toRow({ usd_micros: 100 }) });
    await journal.close();
    const second = new MemoryLedger({ sweepIntervalMs: 0 });
    const again = await replayJournal({ file, ledger: second, retentionMs: DAY });
    assert.deepEqual([again.records, again.skipped], [3, 0], 'the new line is not glued to the torn one');
    assert.equal((await second.standing([allTime('agent:a')]))[0].used, 111);
    await rm(dir, { recursive: true });
  });

  it('cuts a file holding only a partial line to nothing', async () => {
    const dir = await tempDir();
    const file = join(dir, 'journal.jsonl');
    await writeFile(file, '{"t":1,"s":');
    assert.equal(await cutTornTail(file), 11);
    assert.equal(await readFile(file, 'utf8'), '');
    assert.equal(await cutTornTail(join(dir, 'missing.jsonl')), 0);
    await rm(dir, { recursive: true });
  });

  it('keeps every flushed settlement through a real kill -9', async () => {
    const dir = await tempDir();
    const file = join(dir, 'journal.jsonl');
    const child = fileURLToPath(new URL('./journal-crash-child.ts', import.meta.url));
    const flushedCount = await new Promise<number>((resolve, reject) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', child, file], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      proc.stdout.on('data', (chunk) => {
        out += chunk;
      });
      proc.on('error', reject);
      proc.on('exit', (_code, signal) => {
        assert.equal(signal, 'SIGKILL');
        resolve(Number(out.trim()));
      });
    });
    assert.ok(flushedCount > 0);
    const ledger = new MemoryLedger({ sweepIntervalMs: 0 });
    const result = await replayJournal({ file, ledger, retentionMs: DAY });
    assert.ok(result.records >= flushedCount, `replayed ${result.records}, flushed ${flushedCount}`);
    assert.ok(result.skipped <= 1, 'at most one torn line');
    assert.equal((await ledger.standing([allTime('agent:crash', 'requests')]))[0].used, result.records);
    await rm(dir, { recursive: true });
  });

  it('compacts away records older than retention and malformed lines, atomically, only when needed', async () => {
    const dir = await tempDir();
    const file = join(dir, 'journal.jsonl');
    const now = 100 * DAY;
    await writeFile(
      file,
      [
        line(now - 40 * DAY, ['agent:a'], { usd_micros: 1 }),
        line(now - 36 * DAY, ['agent:a'], { usd_micros: 2 }),
        line(now - 2 * DAY, ['agent:a'], { usd_micros: 3 }),
        'not json\n',
        '\n',
        line(now - 1, ['agent:a'], { usd_micros: 4 }),
      ].join(''),
    );
    const result = await compactJournal({ file, retentionMs: 35 * DAY, now: () => now });
    assert.deepEqual([result.kept, result.dropped, result.rewritten], [2, 3, true]);
    // what left the retention stays in the scope's lifetime total: one `life:` line per scope, which no compaction drops
    const life = line(now - 36 * DAY, ['life:agent:a'], { usd_micros: 3 });
    assert.equal(await readFile(file, 'utf8'), life + line(now - 2 * DAY, ['agent:a'], { usd_micros: 3 }) + line(now - 1, ['agent:a'], { usd_micros: 4 }));
    assert.deepEqual(await readdir(dir), ['journal.jsonl'], 'no temp file left behind');
    const again = await compactJournal({ file, retentionMs: 35 * DAY, now: () => now + 40 * DAY });
    assert.deepEqual([again.kept, again.dropped, again.rewritten], [1, 2, true]);
    assert.equal(await readFile(file, 'utf8'), line(now - 1, ['life:agent:a'], { usd_micros: 7 }) + life, 'the lifetime lines survive every compaction');
    await rm(dir, { recursive: true });
  });

  it('compacts while open: appends made during the rewrite land in the new file, in order, and the timer runs it', async () => {
    const dir = await tempDir();
    const file = join(dir, 'journal.jsonl');
    let now = 100 * DAY;
    await writeFile(file, line(now - 40 * DAY, ['agent:a'], { usd_micros: 1 }) + line(now - 2 * DAY, ['agent:a'], { usd_micros: 2 }));
    const journal = await Journal.open({ file });
    const row = (micros: number) => toRow({ usd_micros: micros });
    journal.append({ at: now - 1000, scopes: ['agent:a'], row: row(3) });
    const compaction = journal.compact({ retentionMs: 35 * DAY, now: () => now });
    for (let micros = 4; micros <= 50; micros++) journal.append({ at: now, scopes: ['agent:a'], row: row(micros) });
    const result = await compaction;
    assert.deepEqual([result.dropped, result.rewritten], [1, true]);
    await journal.flush();
    const ledger = new MemoryLedger({ now: () => now, sweepIntervalMs: 0 });
    const replayed = await replayJournal({ file, ledger, retentionMs: 35 * DAY, now: () => now });
    assert.equal(replayed.records, 50, 'the fresh record, the one appended before, the 47 appended during compaction and the lifetime line');
    assert.equal(
      (await ledger.standing([{ ...allTime('agent:a'), lifetime: true }]))[0].used,
      1 + 2 + 3 + ((4 + 50) * 47) / 2,
      'the lifetime keeps what left the retention',
    );
    const [standing] = await ledger.standing([allTime('agent:a')]);
    assert.equal(standing.used, 2 + 3 + ((4 + 50) * 47) / 2);
    const times = (await readFile(file, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((text) => JSON.parse(text).t as number);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
      'append order kept',
    );
    // nothing expired: the scan is skipped (the first record is fresh) and the file left alone
    assert.equal((await journal.compact({ retentionMs: 35 * DAY, now: () => now })).rewritten, false);
    await journal.close();

    // the timer: a journal opened with compaction every 20 ms drops what expires while it runs
    const timed = await Journal.open({ file, compaction: { everyMs: 20, retentionMs: 35 * DAY, now: () => now } });
    now += 34 * DAY; // the record written at now - 2 days is now 36 days old
    for (let waited = 0; (await readFile(file, 'utf8')).includes(`"t":${100 * DAY - 2 * DAY},"s":["agent:a"]`) && waited < 5000; waited += 20)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(!(await readFile(file, 'utf8')).includes(`"t":${100 * DAY - 2 * DAY},"s":["agent:a"]`), 'the expired record was compacted away by the timer');
    timed.append({ at: now, scopes: ['agent:a'], row: row(7) });
    await timed.close();
    assert.ok(
      (await readFile(file, 'utf8')).trimEnd().endsWith(line(now, ['agent:a'], { usd_micros: 7 }).trimEnd()),
      'appends after a timed compaction go to the new file',
    );
    await rm(dir, { recursive: true });
  });

  it('rewrites itself from the ledger it journals while open: settlements during the rewrite are kept once', async () => {
    const dir = await tempDir();
    const file = join(dir, 'journal.jsonl');
    const now = 100 * DAY;
    const ledger = new MemoryLedger({ now: () => now, sweepIntervalMs: 0 });
    const journal = await Journal.open({ file });
    ledger.attachJournal(journal);
    for (let i = 0; i < 2_000; i++) await ledger.record({ scopes: ['agent:a', 'pool:p'], amounts: { usd_micros: 1 }, at: now - 5_000 + (i % 3_000) });
    await journal.flush();
    for (let i = 0; i < 500; i++) await ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 10 }, at: now - 1_000 }); // queued, not written yet
    const snapshot = (): LedgerSnapshot => {
      const taken = ledger.snapshot();
      setImmediate(() => {
        // settled while the snapshot is being written: not in it, so they must reach the new file
        for (let i = 0; i < 300; i++) void ledger.record({ scopes: ['agent:a'], amounts: { usd_micros: 100 }, at: now });
      });
      return taken;
    };
    const result = await journal.compact({ retentionMs: 35 * DAY, now: () => now, snapshot });
    assert.deepEqual([result.rewritten, result.kept, result.dropped], [true, 5, 2_495], '2,500 lines become 3 seconds of agent:a and 2 of pool:p');
    await journal.close();
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 1 + 5 + 300);
    assert.match(lines[0], /^\{"t":\d+,"m":\[\]\}$/, 'the rewrite starts with a watermark (its records carry no request ids)');
    const replayed = new MemoryLedger({ now: () => now, sweepIntervalMs: 0 });
    await replayJournal({ file, ledger: replayed, retentionMs: 35 * DAY, now: () => now });
    const standings = await replayed.standing([allTime('agent:a'), allTime('pool:p')]);
    assert.deepEqual(
      standings.map((standing) => standing.used),
      [2_000 + 5_000 + 30_000, 2_000],
    );
    assert.equal((await readdir(dir)).length, 1, 'no temp file left behind');
    await rm(dir, { recursive: true });
  });

  it('leaves the file whole, with the lines queued before the snapshot, when the rewrite fails', async () => {
    const dir = await tempDir();
    const file = join(dir, 'journal.jsonl');
    const journal = await Journal.open({ file, lines: 0 });
    const row = toRow({ usd_micros: 1 });
    for (let i = 0; i < 10; i++) journal.append({ at: DAY + i, scopes: ['agent:a'], row });
    const failing = {
      events: 1,
      records: function* () {
        throw new Error('snapshot broke');
      },
    };
    await assert.rejects(journal.compact({ retentionMs: 35 * DAY, now: () => DAY, snapshot: () => failing }), /snapshot broke/);
    journal.append({ at: DAY + 10, scopes: ['agent:a'], row });
    await journal.close();
    assert.equal((await readFile(file, 'utf8')).trimEnd().split('\n').length, 11, 'every line in the old file, in order');
    assert.deepEqual(await readdir(dir), ['journal.jsonl'], 'the temp file is removed');
    await rm(dir, { recursive: true });
  });

  it('does not replay records older than retention', async () => {
    const dir = await tempDir();
    const file = join(dir, 'journal.jsonl');
    const now = 100 * DAY;
    await appendFile(file, line(now - 10 * DAY, ['agent:a'], { usd_micros: 1 }) + line(now - DAY, ['agent:a'], { usd_micros: 2 }));
    const ledger = new MemoryLedger({ now: () => now, sweepIntervalMs: 0 });
    const result = await replayJournal({ file, ledger, retentionMs: 5 * DAY, now: () => now });
    assert.deepEqual([result.records, result.expired], [1, 1]);
    assert.equal((await ledger.standing([allTime('agent:a')]))[0].used, 2);
    const missing = await replayJournal({ file: join(dir, 'none.jsonl'), ledger, retentionMs: DAY });
    assert.equal(missing.records, 0);
    await rm(dir, { recursive: true });
  });

  it('keeps lines queued and reports the error while the disk refuses writes', async () => {
    const journal = await Journal.open({ file: '/dev/full' });
    journal.append({ at: 1, scopes: ['agent:a'], row: toRow({ requests: 1 }) });
    await assert.rejects(journal.flush(), /ENOSPC/);
    assert.match(journal.lastError?.message ?? '', /ENOSPC/);
    assert.equal(journal.stats.queued, 1);
    const ledger = new MemoryLedger({ journal, sweepIntervalMs: 0 });
    assert.equal((await ledger.health()).ok, false);
  });
});
