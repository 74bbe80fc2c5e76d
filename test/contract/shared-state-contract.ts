// The shared-state contract: what every SharedState (memory, Redis) must do, in real time with short TTLs and unique keys.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SharedState } from '../../src/ledger/shared-state.ts';

export type MakeSharedState = () => Promise<{ state: SharedState; cleanup: () => Promise<void> }>;

const unique = (label: string) => `contract:${label}:${randomUUID().slice(0, 8)}`;

/** Waits until `keys` holds `count` entries (announcements are asynchronous); a hang guard, not a timing assertion. */
async function received(keys: string[], count: number): Promise<void> {
  for (let waited = 0; keys.length < count && waited < 5000; waited += 10) await sleep(10);
}

export function sharedStateContract(name: string, make: MakeSharedState): void {
  const withState = (body: (state: SharedState) => Promise<void>) => async () => {
    const { state, cleanup } = await make();
    try {
      await body(state);
    } finally {
      await cleanup();
    }
  };

  describe(`shared state contract: ${name}`, () => {
    it(
      'get returns what put stored, in key order, null for absent keys',
      withState(async (state) => {
        const [a, b, c] = [unique('a'), unique('b'), unique('c')];
        await state.put(a, 'one', 60_000);
        await state.put(c, '{"until":1}', null);
        assert.deepEqual(await state.get([a, b, c]), ['one', null, '{"until":1}']);
        assert.deepEqual(await state.get([]), []);
        await state.put(a, 'two', 60_000);
        assert.deepEqual(await state.get([a]), ['two']);
      }),
    );

    it(
      'a value expires after its TTL; a null TTL keeps it',
      withState(async (state) => {
        const [short, kept] = [unique('short'), unique('kept')];
        await state.put(short, 'x', 100);
        await state.put(kept, 'y', null);
        await sleep(300);
        assert.deepEqual(await state.get([short, kept]), [null, 'y']);
      }),
    );

    it(
      'delete removes a value',
      withState(async (state) => {
        const key = unique('del');
        await state.put(key, 'x', null);
        await state.delete(key);
        assert.deepEqual(await state.get([key]), [null]);
        await state.delete(key); // deleting an absent key is fine
      }),
    );

    it(
      'count adds one in a window that starts at the first count, then starts again',
      withState(async (state) => {
        const key = unique('count');
        assert.equal(await state.count(key, 200), 1);
        assert.equal(await state.count(key, 200), 2);
        assert.equal(await state.count(key, 200), 3);
        await sleep(400);
        assert.equal(await state.count(key, 200), 1);
        // counters live apart from values of the same name
        assert.deepEqual(await state.get([key]), [null]);
      }),
    );

    it(
      'claim is won once while held, again after its TTL or a delete',
      withState(async (state) => {
        const key = unique('claim');
        assert.equal(await state.claim(key, 'first', 150), true);
        assert.equal(await state.claim(key, 'second', 150), false);
        assert.deepEqual(await state.get([key]), ['first']);
        await sleep(350);
        assert.equal(await state.claim(key, 'third', 60_000), true);
        await state.delete(key);
        assert.equal(await state.claim(key, 'fourth', 60_000), true);
        assert.deepEqual(await state.get([key]), ['fourth']);
      }),
    );

    it(
      'twenty concurrent claims: exactly one wins',
      withState(async (state) => {
        const key = unique('race');
        const won = await Promise.all(Array.from({ length: 20 }, (_, index) => state.claim(key, String(index), 60_000)));
        assert.equal(won.filter(Boolean).length, 1);
      }),
    );

    it(
      'subscribers hear put, won claims and delete (this replica included), not lost claims or counts',
      withState(async (state) => {
        const [a, b, c] = [unique('a'), unique('b'), unique('c')];
        const heard: string[] = [];
        const off = state.subscribe((key) => heard.push(key));
        await state.put(a, '1', 60_000);
        await state.claim(b, '1', 60_000);
        await state.claim(b, '2', 60_000); // lost: no change
        await state.count(c, 60_000);
        await state.delete(a);
        await received(heard, 3);
        await sleep(50); // nothing more arrives late
        assert.deepEqual(heard, [a, b, a]);
        off();
        await state.put(a, '2', 60_000);
        await sleep(50);
        assert.deepEqual(heard, [a, b, a], 'no announcement after unsubscribing');
      }),
    );

    it(
      'keys hold any text: provider names, masked ids, colons and spaces',
      withState(async (state) => {
        const key = `${unique('odd')}:pool:my provider/with:colons é`;
        await state.put(key, 'v', 60_000);
        assert.deepEqual(await state.get([key]), ['v']);
      }),
    );
  });
}
