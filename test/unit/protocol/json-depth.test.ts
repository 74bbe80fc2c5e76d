// The bracket scan agrees with the depth of the parsed value on random JSON (strings full of brackets, quotes and escapes).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jsonDeeperThan } from '../../../src/protocol/json-depth.ts';
import { seededRandom } from '../../helpers/random.ts';

/** Depth of a parsed value, iteratively: objects and arrays count one level each, scalars none. */
function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    deepest = Math.max(deepest, depth + 1);
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return deepest;
}

const TRICKY = ['[', ']', '{', '}', '"', '\\', '\\"', '\\\\', 'a', '\u2028', 'é'];

function randomValue(random: () => number, budget: number): unknown {
  const pick = random();
  if (budget <= 0 || pick < 0.3) {
    let text = '';
    for (let i = Math.floor(random() * 6); i > 0; i--) text += TRICKY[Math.floor(random() * TRICKY.length)];
    return pick < 0.15 ? text : Math.floor(random() * 100);
  }
  const children = Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, budget - 1 - Math.floor(random() * 3)));
  if (pick < 0.65) return children;
  return Object.fromEntries(children.map((child, index) => [`${TRICKY[index % TRICKY.length]}k${index}`, child]));
}

describe('jsonDeeperThan', () => {
  it('matches the parsed depth on 2,000 random documents, at every bound around it', () => {
    for (let seed = 1; seed <= 2_000; seed++) {
      const random = seededRandom(seed);
      const text = JSON.stringify(randomValue(random, 1 + Math.floor(random() * 12)));
      const depth = depthOf(JSON.parse(text));
      for (const bound of [depth - 1, depth, depth + 1].filter((b) => b >= 0)) {
        assert.equal(jsonDeeperThan(text, bound), depth > bound, `seed ${seed}, bound ${bound}: ${text}`);
      }
    }
  });

  it('does not count brackets inside strings, even after escaped quotes and backslashes', () => {
    assert.equal(jsonDeeperThan('{"a":"[[[[\\"[[[[\\\\"}', 1), false);
    assert.equal(jsonDeeperThan('{"a":"\\\\",  "b":[[1]]}', 2), true);
    assert.equal(jsonDeeperThan(`{"a":"${'['.repeat(10_000)}"}`, 1), false);
  });

  it('says a 5,000-deep document is deeper than 64 after reading only 65 brackets of it', () => {
    assert.equal(jsonDeeperThan(`${'['.repeat(5_000)}${']'.repeat(5_000)}`, 64), true);
  });
});
