// Key selection as cllama's SelectKey, plus the strategies, and cllama's key masking.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { maskSecret, poolProviderOf, selectKey, type PoolProvider } from '../../../src/keys/pool.ts';
import type { DeclaredKey, KeyStrategy } from '../../../src/upstream/provider.ts';

const NOW = 1_000_000;

function pool(keys: Partial<DeclaredKey>[], options: { active?: string; strategy?: KeyStrategy } = {}): PoolProvider {
  const declaredKeys = keys.map(
    (key, index) =>
      ({
        id: `k${index}`,
        label: '',
        secret: `secret-${index}-xxxxxxxx`,
        source: 'seed',
        state: 'ready',
        cooldownUntil: null,
        lastErrorCode: 0,
        lastErrorReason: '',
        lastErrorAt: null,
        addedAt: null,
        ...key,
      }) as DeclaredKey,
  );
  return poolProviderOf(
    {
      name: 'openai',
      baseUrl: 'http://x/v1',
      auth: 'bearer',
      apiFormat: 'openai',
      keys: [],
      declaredKeys,
      activeKeyId: options.active,
      keyStrategy: options.strategy,
    },
    NOW,
  );
}
const picked = (p: PoolProvider, tried?: Set<string>) => {
  const choice = selectKey(p, NOW, tried);
  return choice.kind === 'key' ? choice.key.id : choice;
};

describe('selectKey', () => {
  it('active_first: the active key if usable, else the first usable in order; dead and disabled never', () => {
    assert.equal(picked(pool([{}, {}, {}], { active: 'k2' })), 'k2');
    assert.equal(picked(pool([{}, { state: 'dead' }, {}], { active: 'k1' })), 'k0');
    assert.equal(picked(pool([{ state: 'disabled' }, { state: 'dead' }, {}])), 'k2');
  });

  it('an expired cooldown is ready again; one without an end never recovers by itself (cllama)', () => {
    const p = pool([{ state: 'cooldown', cooldownUntil: NOW - 1 }, {}]);
    assert.equal(picked(p), 'k0');
    assert.equal(p.keys[0].state, 'ready');
    assert.deepEqual(picked(pool([{ state: 'cooldown', cooldownUntil: null }])), { kind: 'none' });
  });

  it('all cooling: the time until the first is back; nothing usable: none', () => {
    assert.deepEqual(picked(pool([{ state: 'cooldown', cooldownUntil: NOW + 5000 }, { state: 'cooldown', cooldownUntil: NOW + 1200 }, { state: 'dead' }])), {
      kind: 'cooling',
      retryAfterMs: 1200,
    });
    assert.deepEqual(picked(pool([{ state: 'dead' }, { state: 'disabled' }])), { kind: 'none' });
    assert.deepEqual(picked(pool([])), { kind: 'none' });
  });

  it('keys tried in this call are skipped', () => {
    assert.equal(picked(pool([{}, {}]), new Set(['k0'])), 'k1');
  });

  it('round_robin spreads calls over the usable keys', () => {
    const p = pool([{}, { state: 'dead' }, {}, {}], { strategy: 'round_robin' });
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map(() => picked(p)),
      ['k0', 'k2', 'k3', 'k0', 'k2', 'k3'],
    );
  });

  it('most_headroom prefers the key the provider said has the most requests left (unmeasured counts as full)', () => {
    const p = pool([{}, {}, {}], { strategy: 'most_headroom' });
    p.keys[0].headroom = { requests: 3, tokens: 100 };
    p.keys[1].headroom = { requests: 50, tokens: 10 };
    assert.equal(picked(p), 'k2', 'never measured');
    p.keys[2].headroom = { requests: 50, tokens: 99 };
    assert.equal(picked(p), 'k2', 'same requests: more tokens');
    p.keys[2].headroom = { requests: 1, tokens: 99 };
    assert.equal(picked(p), 'k1');
  });
});

describe('maskSecret (cllama maskKey)', () => {
  it('first 4 ... last 4; 8 bytes or fewer: ****; empty stays empty', () => {
    assert.equal(maskSecret('sk-example-1234'), 'sk-e...1234');
    assert.equal(maskSecret('sk-test-key-1234'), 'sk-t...1234');
    assert.equal(maskSecret('abcd'), '****');
    assert.equal(maskSecret('12345678'), '****');
    assert.equal(maskSecret('  '), '');
  });
});
