// The stream key mask: a key is masked whatever the chunk cuts, nothing else changes, and a whole event is never held.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StreamKeyMask } from '../../../src/stream/stream-key-mask.ts';
import { maskProviderKeys } from '../../../src/upstream/key-mask.ts';
import type { ProviderKey } from '../../../src/upstream/provider.ts';
import { seededRandom } from '../../helpers/random.ts';

const KEYS = [
  { id: 'k1', secret: 'sk-live-0123456789abcdef' },
  { id: 'k2', secret: 'sk-ant-fedcba9876543210' },
] as unknown as ProviderKey[];
const WORDS = ['data: {"x":"', 'é', '漢字', '😀', 'sk-', 'sk-live-0123', KEYS[0].secret, KEYS[1].secret, '"}\n\n', 's', 'k', '-', ' tokens'];

describe('StreamKeyMask', () => {
  it('masks every key across any cuts, byte for byte the same as masking the whole stream (300 seeded streams)', () => {
    const random = seededRandom(31);
    for (let round = 0; round < 300; round++) {
      const text = Array.from({ length: 5 + Math.floor(random() * 40) }, () => WORDS[Math.floor(random() * WORDS.length)]).join('');
      const whole = Buffer.from(text, 'utf8');
      const mask = StreamKeyMask.for(KEYS)!;
      const out: Buffer[] = [];
      for (let at = 0; at < whole.length; ) {
        const size = 1 + Math.floor(random() * 12);
        out.push(mask.push(whole.subarray(at, at + size)));
        at += size;
      }
      out.push(mask.end());
      const relayed = Buffer.concat(out);
      assert.deepEqual(relayed, maskProviderKeys(whole, KEYS), `round ${round}: ${JSON.stringify(text)}`);
      for (const key of KEYS) assert.ok(!relayed.includes(key.secret), `round ${round}: no key gets through`);
    }
  });

  it('holds back only a tail that could start a key: a chunk ending an event goes out whole', () => {
    const mask = StreamKeyMask.for(KEYS)!;
    assert.equal(mask.push(Buffer.from('data: {"a":1}\n\n')).toString(), 'data: {"a":1}\n\n');
    assert.equal(mask.push(Buffer.from('data: {"k":"sk-li')).toString(), 'data: {"k":"', 'the possible key start waits');
    assert.equal(mask.push(Buffer.from('ve-0123456789abcdef"}\n\n')).toString(), '[REDACTED]"}\n\n');
    assert.equal(mask.push(Buffer.from('data: {"k":"sk-lime"}\n\n')).toString(), 'data: {"k":"sk-lime"}\n\n');
    assert.equal(mask.end().length, 0);
  });

  it('is absent when no key is long enough to mask', () => {
    assert.equal(StreamKeyMask.for([{ id: 'none', secret: 'none' }] as unknown as ProviderKey[]), null);
    assert.equal(StreamKeyMask.for([]), null);
  });
});
