// Replay's byte decoder against JSON decoding: whatever line it decodes, it decodes exactly as decodeRecord does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RecordBytesDecoder } from '../../../src/ledger/journal/record-bytes.ts';
import { decodeRecord, encodeRecord, type DecodedRecord } from '../../../src/ledger/journal/record.ts';
import { toRow } from '../../../src/ledger/amounts.ts';
import { seededRandom } from '../../helpers/random.ts';

function plain(record: DecodedRecord | null | undefined): unknown {
  return record && { at: record.at, scopes: [...record.scopes], row: [...record.row], requestId: record.requestId };
}

/** The byte decoder's verdict must be "not mine" (undefined) or exactly decodeRecord's. */
function agrees(decoder: RecordBytesDecoder, text: string): boolean | 'declined' {
  const fast = decoder.decode(Buffer.from(text, 'utf8'));
  if (fast === undefined) return 'declined';
  assert.deepEqual(plain(fast), plain(decodeRecord(text)), text);
  return true;
}

const SCOPES = ['agent:a', 'shared:team', 'agent:ünï', 'agent:a|model:gpt-4o*', 'session:a/x', 'life:agent:b'];
const METRIC_NAMES = ['usd_micros', 'requests', 'input_tokens', 'output_tokens', 'total_tokens', 'unknown_cost_requests'];

describe('journal record bytes decoder', () => {
  it('decodes the lines encodeRecord writes, with and without request ids, exactly as decodeRecord', () => {
    const decoder = new RecordBytesDecoder();
    const random = seededRandom(7);
    for (let i = 0; i < 2000; i++) {
      const scopes = SCOPES.filter(() => random() < 0.4);
      if (scopes.length === 0) scopes.push('agent:a');
      const amounts = Object.fromEntries(METRIC_NAMES.filter(() => random() < 0.6).map((name) => [name, Math.floor(random() ** 3 * 1e12)]));
      const line = encodeRecord(Math.floor(random() * 2e12), scopes, toRow(amounts), random() < 0.5 ? `req-${i}` : undefined).trimEnd();
      assert.equal(agrees(decoder, line), true, line);
    }
  });

  it('decodes metrics in any order, and declines names that only start like a metric', () => {
    const decoder = new RecordBytesDecoder();
    const random = seededRandom(11);
    for (let i = 0; i < 2000; i++) {
      // another writer's key order: shuffled, so the metric after the last one read is often not the next column
      const names = METRIC_NAMES.filter(() => random() < 0.7).sort(() => random() - 0.5);
      const amounts = names.map((name) => `"${name}":${Math.floor(random() * 1e6)}`).join(',');
      assert.equal(agrees(decoder, `{"t":${i},"s":["agent:a"],"a":{${amounts}}}`), true, amounts);
    }
    for (const amounts of [
      '"usd_millis":1',
      '"usd_micros":1,"usd_microsx":2',
      '"total":5',
      '"requests":1,"usd_micros":2,"requests":3',
      '"unknown_cost_requests":1,"usd_micros":2,"unknown_cost_requests":1',
      '"inpu":1',
    ]) {
      assert.equal(agrees(decoder, `{"t":1,"s":["agent:a"],"a":{${amounts}}}`), 'declined', amounts);
    }
  });

  it('declines what it cannot decode exactly, and never accepts a line decodeRecord refuses', () => {
    const decoder = new RecordBytesDecoder();
    const lines = [
      '{"t":1,"s":["a"],"a":{}}',
      '{"t":01,"s":["a"],"a":{}}',
      '{"t":1.5,"s":["a"],"a":{}}',
      '{"t":-1,"s":["a"],"a":{}}',
      '{"t":1e3,"s":["a"],"a":{}}',
      '{"t":12345678901234567,"s":["a"],"a":{}}',
      '{"t":1,"s":[],"a":{}}',
      '{"t":1,"s":[""],"a":{}}',
      '{"t":1,"s":["a\\"b"],"a":{}}',
      '{"t":1,"s":["a\\u0041"],"a":{}}',
      '{"t":1,"s":["a"],"a":{"usd_micros":-1}}',
      '{"t":1,"s":["a"],"a":{"usd_micros":1,"usd_micros":2}}',
      '{"t":1,"s":["a"],"a":{"dollars":1}}',
      '{"t":1,"s":["a"],"a":{"usd_micros":9007199254740993}}',
      '{"t":1,"s":["a"],"a":{"usd_micros":00}}',
      '{"t":1,"s":["a"],"a":{"usd_micros":1.0}}',
      '{"t":1,"s":["a"],"a":{"usd_micros":1}',
      '{"t":1,"s":["a"],"a":{"usd_micros":1}} ',
      '{"t":1,"s":["a"],"a":{},"r":""}',
      '{"t":1,"s":["a"],"a":{},"r":"x","z":1}',
      '{"t":1,"s":["a"],"a":{},"x":"y"}',
      '{"s":["a"],"t":1,"a":{}}',
      '{"t":1, "s":["a"],"a":{}}',
      '{"t":1,"s":["a",],"a":{}}',
      '{"t":1,"s":["a"],"a":{"requests":1,}}',
      '{"t":1,"s":["a\tb"],"a":{}}',
      '{"t":1,"m":["x"]}',
      '{"t":1,"s":["a"],"a":{"requests":1}}x',
      '{"t":1,"s":["a"]',
      '',
    ];
    for (const line of lines) agrees(decoder, line);
    assert.equal(agrees(decoder, '{"t":1,"s":["a"],"a":{}}'), true);
  });

  it('agrees with decodeRecord on random corruptions of good lines (torn, flipped, spliced bytes)', () => {
    const decoder = new RecordBytesDecoder();
    const random = seededRandom(11);
    const alphabet = '{}[]",:0123456789-.eE\\ ausdrt';
    let decoded = 0;
    for (let i = 0; i < 20_000; i++) {
      const good = encodeRecord(
        1_700_000_000_000 + i,
        SCOPES.slice(0, 1 + (i % 3)),
        toRow({ usd_micros: i, requests: 1 }),
        i % 2 ? `r${i}` : undefined,
      ).trimEnd();
      const chars = [...good];
      for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits--) {
        const at = Math.floor(random() * chars.length);
        const kind = random();
        if (kind < 0.4) chars[at] = alphabet[Math.floor(random() * alphabet.length)];
        else if (kind < 0.7) chars.splice(at, 1);
        else chars.splice(at, 0, alphabet[Math.floor(random() * alphabet.length)]);
      }
      if (agrees(decoder, chars.join('')) === true) decoded += 1;
    }
    assert.ok(decoded > 0, 'some corruptions are still valid records, decoded alike');
  });

  it('hands out one list per distinct scope list, and a new one when the bytes differ', () => {
    const decoder = new RecordBytesDecoder();
    const row = toRow({ requests: 1 });
    const first = decoder.decode(Buffer.from(encodeRecord(1, ['agent:a', 'shared:t'], row).trimEnd()));
    const again = decoder.decode(Buffer.from(encodeRecord(2, ['agent:a', 'shared:t'], row).trimEnd()));
    const other = decoder.decode(Buffer.from(encodeRecord(3, ['agent:b', 'shared:t'], row).trimEnd()));
    assert.equal(first?.scopes, again?.scopes);
    assert.deepEqual(other?.scopes, ['agent:b', 'shared:t']);
    assert.ok(Object.isFrozen(first?.scopes));
  });

  it('decodes fleets with more scope lists than it keeps, in any order, each line right', () => {
    const decoder = new RecordBytesDecoder();
    const row = toRow({ requests: 1 });
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 70_000; i += round === 0 ? 1 : 7) {
        const scopes = [`agent:f${i}`, `shared:t${i % 10}`];
        assert.deepEqual(decoder.decode(Buffer.from(encodeRecord(i, scopes, row).trimEnd()))?.scopes, scopes);
      }
    }
  });
});
