// A stream's text decoded piece by piece is the text of the whole stream, however its bytes are cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Utf8Pieces } from '../../../src/stream/utf8-pieces.ts';

const VALID = Buffer.from('data: {"content":"héllo wörld ✓ 🎉 ñ"}\n\n€𝄞', 'utf8');
// sequences cut short, stray continuation bytes, overlong and out-of-range leads, a surrogate's encoding, a lead last
const INVALID = Buffer.concat([
  Buffer.from('a'),
  Buffer.from([0xe2, 0x82]),
  Buffer.from('b'),
  Buffer.from([0x80, 0xbf]),
  Buffer.from([0xc0, 0xaf, 0xc1, 0xbf]),
  Buffer.from([0xf5, 0x80, 0x80, 0x80]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xe0, 0x9f, 0x80]),
  Buffer.from([0xf0, 0x9f, 0x98]),
  Buffer.from('c'),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  Buffer.from([0xf0, 0x9f]),
]);

function decodeInPieces(bytes: Buffer, cuts: number[]): string {
  const utf8 = new Utf8Pieces();
  let text = '';
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    text += utf8.text(bytes.subarray(at, cut));
    at = cut;
  }
  return text + utf8.end();
}

test('every cut in two, and every cut into single bytes, reads as the whole text (valid and invalid UTF-8)', () => {
  for (const bytes of [VALID, INVALID, Buffer.concat([INVALID, VALID])]) {
    const whole = bytes.toString('utf8');
    for (let cut = 0; cut <= bytes.length; cut++) assert.equal(decodeInPieces(bytes, [cut]), whole, `cut at ${cut}`);
    const everyByte = Array.from({ length: bytes.length }, (_, i) => i);
    assert.equal(decodeInPieces(bytes, everyByte), whole, 'one byte at a time');
  }
});

test('a character cut between two pieces is held back to the next piece; a stream that ends inside one reads U+FFFD', () => {
  const utf8 = new Utf8Pieces();
  const euro = Buffer.from('€', 'utf8');
  assert.equal(utf8.text(Buffer.concat([Buffer.from('x'), euro.subarray(0, 2)])), 'x');
  assert.equal(utf8.text(euro.subarray(2)), '€');
  assert.equal(utf8.text(euro.subarray(0, 1)), '');
  assert.equal(utf8.end(), '\uFFFD');
  assert.equal(utf8.end(), '', 'nothing held after the end');
});
