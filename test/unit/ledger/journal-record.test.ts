// Journal line format: hand-built encoding equals JSON, strict decoding, byte-level time reading, line batching.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeRecord, encodeRecord, leadingTime } from '../../../src/ledger/journal/record.ts';
import { readLineBatches } from '../../../src/ledger/journal/file.ts';
import { toRow } from '../../../src/ledger/amounts.ts';

describe('journal record', () => {
  it('encodes exactly as JSON.stringify would, and decodes back', () => {
    const row = toRow({ usd_micros: 750, requests: 1, total_tokens: 150, unknown_cost_requests: 0 });
    const scopes = ['agent:a', 'shared:te"am', 'agent:a|model:gpt-4o*'];
    const line = encodeRecord(1732850000123, scopes, row);
    assert.equal(line, JSON.stringify({ t: 1732850000123, s: scopes, a: { usd_micros: 750, requests: 1, total_tokens: 150 } }) + '\n');
    const decoded = decodeRecord(line.trimEnd());
    assert.ok(decoded);
    assert.equal(decoded.at, 1732850000123);
    assert.deepEqual(decoded.scopes, scopes);
    assert.deepEqual([...decoded.row], [...row]);
  });

  it('rejects malformed lines', () => {
    for (const bad of [
      '',
      'null',
      '[]',
      '{"t":"1","s":["a"],"a":{}}',
      '{"t":1,"s":[],"a":{}}',
      '{"t":1,"s":[""],"a":{}}',
      '{"t":1,"s":["a"],"a":{"usd_micros":-1}}',
      '{"t":1,"s":["a"],"a":{"dollars":1}}',
      '{"t":1,"s":["a"],"a":[]}',
      '{"t":1,"s":["a"],"a":{"usd',
    ]) {
      assert.equal(decodeRecord(bad), null, bad);
    }
  });

  it('reads the time from the raw bytes of lines it wrote, and declines anything else', () => {
    assert.equal(leadingTime(Buffer.from('{"t":1732850000123,"s":["a"],"a":{}}')), 1732850000123);
    assert.equal(leadingTime(Buffer.from('{"t":17,"s":["a"],"a":{"usd')), null, 'torn');
    assert.equal(leadingTime(Buffer.from('{"s":["a"],"t":17,"a":{}}')), null, 'other key order');
    assert.equal(leadingTime(Buffer.from('{"t":1.5,"s":["a"],"a":{}}')), null);
    assert.equal(leadingTime(Buffer.from('{"t":,"s":["a"],"a":{}}')), null);
  });

  it('splits a file into lines across chunk boundaries, with CRLF and a last line without newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-lines-'));
    const file = join(dir, 'lines.txt');
    const expected = ['alpha', '', 'béta with ünïcode', 'gamma'.repeat(10), 'last'];
    await writeFile(file, `${expected[0]}\r\n${expected[1]}\n${expected[2]}\n${expected[3]}\n${expected[4]}`);
    const seen: string[] = [];
    for await (const batch of readLineBatches(file, 7)) for (const line of batch) seen.push(line.toString('utf8'));
    assert.deepEqual(seen, expected);
    const none: Buffer[][] = [];
    for await (const batch of readLineBatches(join(dir, 'missing'))) none.push(batch);
    assert.equal(none.length, 0);
    await rm(dir, { recursive: true });
  });
});
