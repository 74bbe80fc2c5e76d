// The key matcher: any 12+ run of a key, in any case, through JSON escapes, masked the same whatever the chunk cuts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyScanner, KeyWindows, maskRuns } from '../../../src/upstream/key-windows.ts';
import { ECHO_SHAPES, echoOf, leaksKey, randomKey } from '../../helpers/key-echo.ts';
import { seededRandom } from '../../helpers/random.ts';

const FILLER = [
  'data: {"x":"',
  'hello',
  ' ',
  'é',
  '漢字',
  '😀',
  '"}\n\n',
  'token',
  'sk-',
  'aaaaaaaaaaaaaaaa',
  '\\n',
  '\\"',
  '\\u00e9',
  '\\',
  'u00',
  ',',
  '0123456789',
];

function streamed(windows: KeyWindows, bytes: Buffer, random: () => number): Buffer {
  const scanner = new KeyScanner(windows);
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + Math.floor(random() * 9);
    out.push(scanner.push(bytes.subarray(at, at + size)));
    at += size;
  }
  out.push(scanner.end());
  return Buffer.concat(out);
}

describe('key windows', () => {
  it('masks every echo shape exactly, leaves the rest byte for byte, and a stream cut anywhere gets the same bytes (2,000 seeded texts)', () => {
    const random = seededRandom(Number(process.env.KEY_SEED ?? 1612));
    for (let round = 0; round < 2000; round++) {
      const keys = Array.from({ length: 1 + Math.floor(random() * 2) }, () => randomKey(random));
      const windows = KeyWindows.of(keys)!;
      const parts: string[] = [];
      const expected: string[] = [];
      for (let i = 0; i < 3 + Math.floor(random() * 12); i++) {
        if (random() < 0.3) {
          const echo = echoOf(keys[Math.floor(random() * keys.length)], ECHO_SHAPES[Math.floor(random() * ECHO_SHAPES.length)], random);
          parts.push(' ', echo, ' ');
          expected.push(' ', '[REDACTED]', ' ');
        } else {
          const word = FILLER[Math.floor(random() * FILLER.length)];
          parts.push(word);
          expected.push(word);
        }
      }
      const text = parts.join('');
      const whole = maskRuns(windows, Buffer.from(text));
      assert.equal(whole.toString(), expected.join(''), `round ${round}: ${JSON.stringify({ keys, text })}`);
      assert.deepEqual(streamed(windows, Buffer.from(text), random), whole, `round ${round}: streamed the same`);
      assert.equal(windows.occursIn(text), expected.includes('[REDACTED]'), `round ${round}: the quick check on the string agrees`);
      for (const key of keys) assert.ok(!leaksKey(whole.toString(), key), `round ${round}: no run of the key is left`);
    }
  });

  it('catches a key cut to 12 characters and lets 11 through; other letters end a run', () => {
    const key = 'sk-Zq81xLmN0pQr7TuV';
    const windows = KeyWindows.of([key])!;
    const mask = (text: string) => maskRuns(windows, Buffer.from(text)).toString();
    assert.equal(mask(`a ${key.slice(3, 15)} b`), 'a [REDACTED] b');
    assert.equal(mask(`a ${key.slice(3, 14)} b`), `a ${key.slice(3, 14)} b`, 'eleven characters are not a key');
    assert.equal(
      mask(`"${key.slice(0, 8)}"+"${key.slice(8)}"`),
      `"${key.slice(0, 8)}"+"${key.slice(8)}"`,
      'pieces under 12 characters each pass (the documented limit)',
    );
    assert.equal(mask(`x${key}y`), 'x[REDACTED]y', 'characters outside the key alphabet stay');
    assert.equal(mask(`${key}${key.toLowerCase()}`), '[REDACTED]', 'touching runs are one mask');
  });

  it('holds at most the last 11 characters of a run, and nothing after a byte outside the alphabet', () => {
    const key = 'sk-Zq81xLmN0pQr7TuV';
    const scanner = new KeyScanner(KeyWindows.of([key])!);
    assert.equal(scanner.push(Buffer.from('data: {"a":1}\n\n')).toString(), 'data: {"a":1}\n\n');
    assert.equal(scanner.push(Buffer.from('data: "sk-Zq81')).toString(), 'data: "', 'a possible start waits');
    assert.equal(scanner.push(Buffer.from('xLmN0pQr7TuV"\n\n')).toString(), '[REDACTED]"\n\n');
    assert.equal(scanner.push(Buffer.from('ppppppppppppppppppp')).toString(), 'pppppppp', 'a long run goes out but for its last 11 characters');
    assert.equal(scanner.push(Buffer.from('\\u00')).toString(), '', 'an escape cut in two waits');
    assert.equal(scanner.end().toString(), 'ppppppppppp\\u00');
  });

  it('is absent for keys under 12 characters', () => {
    assert.equal(KeyWindows.of(['none', 'short-key']), null);
  });
});
