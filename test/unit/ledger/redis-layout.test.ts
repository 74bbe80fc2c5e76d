// Bucket levels of the Redis ledger: the default ladder, which level serves a window, the signature and validation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bucketLevels, coarseningSteps, levelIndexFor, MAX_BUCKETS_PER_CHECK } from '../../../src/ledger/bucket-levels.ts';
import { layoutSignature } from '../../../src/ledger/redis/layout.ts';

const DAY = 86_400_000;

describe('redis ledger bucket levels', () => {
  it('uses 1 s, 15 s, 5 min and 1 h buckets for the default 35-day retention', () => {
    const levels = bucketLevels({ bucketMs: 1000, retentionMs: 35 * DAY });
    assert.deepEqual(
      levels.map((level) => level.bucketMs),
      [1000, 15_000, 300_000, 3_600_000],
    );
    assert.deepEqual(
      levels.map((level) => level.spanMs),
      [1_440_000, 21_600_000, 5 * DAY, 0],
    );
    assert.equal(levels[3].keepMs, 35 * DAY, 'the coarsest level keeps the whole retention');
    for (const level of levels.slice(0, 3)) assert.equal(level.keepMs, level.spanMs, 'finer levels keep only what they serve');
  });

  it('stops at the first level whose bucket bound covers the retention', () => {
    const levels = bucketLevels({ bucketMs: 1000, retentionMs: 60 * 60 * 1000 });
    assert.deepEqual(
      levels.map((level) => level.bucketMs),
      [1000, 15_000],
    );
    assert.equal(levels[1].spanMs, 0);
    assert.deepEqual(
      bucketLevels({ bucketMs: 1000, retentionMs: 10 * 60 * 1000 }).map((level) => level.bucketMs),
      [1000],
    );
  });

  it('serves each window from the finest level within the bucket bound', () => {
    const levels = bucketLevels({ bucketMs: 1000, retentionMs: 35 * DAY });
    assert.equal(levelIndexFor(levels, 2000), 0);
    assert.equal(levelIndexFor(levels, 1000 * MAX_BUCKETS_PER_CHECK), 0);
    assert.equal(levelIndexFor(levels, 1000 * MAX_BUCKETS_PER_CHECK + 1), 1);
    assert.equal(levelIndexFor(levels, 60 * 60 * 1000), 1);
    assert.equal(levelIndexFor(levels, DAY), 2);
    assert.equal(levelIndexFor(levels, 30 * DAY), 3);
    assert.equal(levelIndexFor(levels, 400 * DAY), 3, 'longer than anything: the coarsest level');
  });

  it('lets the embedded ledger coarsen usage once it is older than the windows its finer level serves', () => {
    const steps = coarseningSteps(bucketLevels({ bucketMs: 1000, retentionMs: 35 * DAY }));
    assert.deepEqual(steps, [
      { afterMs: 5 * DAY, bucketMs: 3_600_000 },
      { afterMs: 21_600_000, bucketMs: 300_000 },
      { afterMs: 1_440_000, bucketMs: 15_000 },
    ]);
    assert.deepEqual(coarseningSteps(bucketLevels({ bucketMs: 1000, retentionMs: 10 * 60 * 1000 })), [], 'one level: nothing to coarsen');
  });

  it('drops ladder sizes at or below a coarse finest bucket', () => {
    const levels = bucketLevels({ bucketMs: 20_000, retentionMs: 35 * DAY });
    assert.deepEqual(
      levels.map((level) => level.bucketMs),
      [20_000, 300_000, 3_600_000],
    );
  });

  it('puts the version, epoch size and every level in the signature', () => {
    const signature = layoutSignature(bucketLevels({ bucketMs: 1000, retentionMs: 60 * 60 * 1000 }));
    assert.equal(signature, 'v3|e112.16|1000:1440000:1440000,15000:0:3600000');
    assert.notEqual(signature, layoutSignature(bucketLevels({ bucketMs: 500, retentionMs: 60 * 60 * 1000 })));
  });

  it('rejects bucket sizes and retentions it cannot serve', () => {
    assert.throws(() => bucketLevels({ bucketMs: 5, retentionMs: DAY }), RangeError);
    assert.throws(() => bucketLevels({ bucketMs: 1.5, retentionMs: DAY }), RangeError);
    assert.throws(() => bucketLevels({ bucketMs: 120_000, retentionMs: DAY }), RangeError);
    assert.throws(() => bucketLevels({ bucketMs: 1000, retentionMs: 500 }), RangeError);
  });
});
