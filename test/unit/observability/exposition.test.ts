// The chunked exposition writer: the same text prom-client renders for the same series, written in chunks that yield.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Registry } from 'prom-client';
import { ExpositionWriter, type Family, type Series } from '../../../src/observability/exposition.ts';
import { parsePrometheusText } from '../../helpers/prometheus-text.ts';
import { seededRandom } from '../../helpers/random.ts';

const TRICKY = ['', 'a', 'agent-7', 'q"uote', 'back\\slash', 'new\nline', '\\n', '\\"', 'ünï-агент-💡', 'a,b=c{d}', ' spaced ', '"', '\\'];
const GAUGE_VALUES = [
  0,
  -0,
  1,
  1.5,
  0.1 + 0.2,
  123456.789,
  1e-7,
  1e21,
  -3,
  Number.MAX_SAFE_INTEGER,
  2 ** 60,
  NaN,
  Infinity,
  -Infinity,
  0.000001,
  9_999_999.999999,
];
const COUNTER_VALUES = [1, 2, 700, 1.5, 123_456_789, Number.MAX_SAFE_INTEGER, 2 ** 60, 1e21, 0.1 + 0.2];

/** Families of random series with unique label sets, values drawn from `values`. */
function randomFamilies(seed: number): Family[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const family = (input: { name: string; type: 'counter' | 'gauge'; labelNames: string[]; count: number }): Family => {
    const seen = new Set<string>();
    const series: Series[] = [];
    while (series.length < input.count) {
      const labels = input.labelNames.map(() => (random() < 0.5 ? pick(TRICKY) : `v${Math.floor(random() * 1e6)}`));
      const key = labels.join('\u0000');
      if (seen.has(key)) continue;
      seen.add(key);
      series.push({ labels, value: pick(input.type === 'counter' ? COUNTER_VALUES : GAUGE_VALUES) });
    }
    return { name: input.name, help: 'Help with a \\ backslash,\na newline and "quotes".', type: input.type, labelNames: input.labelNames, series };
  };
  return [
    family({ name: 'test_requests_total', type: 'counter', labelNames: ['agent', 'model', 'status'], count: 2_500 }),
    family({ name: 'test_empty_total', type: 'counter', labelNames: ['action'], count: 0 }),
    family({ name: 'test_budget_used', type: 'gauge', labelNames: ['agent', 'limit', 'metric', 'window'], count: 3_100 }),
    family({ name: 'test_single', type: 'gauge', labelNames: ['kind'], count: 1 }),
  ];
}

/** What prom-client renders for these families (its counters and gauges, set from the same series). */
async function promClientText(families: readonly Family[]): Promise<string> {
  const registry = new Registry();
  for (const family of families) {
    const metric =
      family.type === 'counter'
        ? new Counter({ name: family.name, help: family.help, labelNames: family.labelNames, registers: [registry] })
        : new Gauge({ name: family.name, help: family.help, labelNames: family.labelNames, registers: [registry] });
    for (const series of family.series) {
      const labels = Object.fromEntries(family.labelNames.map((name, index) => [name, series.labels[index]]));
      if (metric instanceof Counter) metric.inc(labels, series.value);
      else metric.set(labels, series.value);
    }
  }
  return registry.metrics();
}

async function write(families: readonly Family[], seriesPerChunk?: number): Promise<ExpositionWriter> {
  const writer = new ExpositionWriter({ seriesPerChunk });
  for (const family of families) await writer.family(family);
  return writer;
}

describe('exposition writer', () => {
  for (const seed of [3, 11, 29]) {
    it(`seed ${seed}: writes exactly what prom-client renders for the same series (escaping, numbers, layout)`, async () => {
      const families = randomFamilies(seed);
      const text = (await write(families)).pieces().join('');
      assert.equal(text, await promClientText(families));
      const parsed = parsePrometheusText(text);
      assert.equal(parsed.get('test_budget_used')?.samples.length, 3_100);
      assert.equal(parsed.get('test_empty_total')?.samples.length, 0);
      assert.equal(parsed.get('test_budget_used')?.help, 'Help with a \\ backslash,\na newline and "quotes".');
      const written = families[2].series as Series[];
      parsed.get('test_budget_used')?.samples.forEach((sample, index) => {
        assert.deepEqual(Object.values(sample.labels), written[index].labels, 'label values survive escaping');
      });
    });
  }

  it('sits next to blocks rendered by prom-client as registry.metrics() lays a whole registry out', async () => {
    const [counter, , gauge, single] = randomFamilies(5);
    const writer = new ExpositionWriter();
    await writer.family(counter);
    writer.block((await promClientText([gauge])).slice(0, -1));
    await writer.family(single);
    assert.equal(writer.pieces().join(''), await promClientText([counter, gauge, single]));
  });

  it('yields to the event loop after every chunk of series, counted across families, and no piece holds more than a chunk', async () => {
    const families = randomFamilies(8); // 5,601 series
    let ticks = 0;
    let writing = true;
    const tick = () => {
      ticks++;
      if (writing) setImmediate(tick);
    };
    setImmediate(tick);
    const writer = await write(families, 100);
    writing = false;
    assert.ok(ticks >= 56, `${ticks} turns of the event loop while 5,601 series were written 100 at a time`);
    for (const piece of writer.pieces()) {
      const samples = piece.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
      assert.ok(samples.length <= 100, `a piece of ${samples.length} series`);
      assert.ok(piece.endsWith('\n'));
    }
  });
});
