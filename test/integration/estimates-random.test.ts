// Property: whatever shape an agent gives its caps, n and stream, the call is refused (400) or its reservation bounds its cost.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { seededRandom } from '../helpers/random.ts';
import { waitFor } from '../helpers/wait.ts';

/** Number shapes as JSON text: whole, fractional, signed, exponent, past every bound, and not numbers at all. */
const NUMBERS = [
  '1',
  '7',
  '100',
  '4096',
  '20000',
  '20000.0',
  '1e3',
  '2147483647',
  '2147483648',
  '20000.5',
  '0.5',
  '0',
  '-0',
  '-5',
  '1e16',
  '1e300',
  '-1e300',
  '"20000"',
  '"1e3"',
  '""',
  'true',
  'false',
  '[]',
  '[100]',
  '{}',
  '{"value":100}',
  'null',
];
const CHOICES = ['1', '2', '8', '128', '129', '0', '-1', '2.5', '"8"', 'true', 'null', '1e2'];
const STREAMS = ['true', 'false', 'null', '"true"', '"false"', '1', '0', '[]', '{}'];
const OUTPUT_CAP_BOUND = 2_147_483_647;

/** What the proxy must make of one field: absent, a valid whole number, or a refusal. */
function expectedValid(raw: string | undefined, bound: number): boolean {
  if (raw === undefined) return true;
  const value = JSON.parse(raw) as unknown;
  return value === null || (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= bound);
}

describe('random cap, n and stream shapes (property)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { a: { budget: { limit_usd: 1000, window: '1h' } } }, upstream: { answerTokens: 20_000 } });
  });
  after(() => h.close());

  for (const dialect of ['openai', 'anthropic'] as const) {
    it(`${dialect}: refused with 400 invalid_parameter exactly when a field is malformed; otherwise the reservation bounds the cost`, async () => {
      const random = seededRandom(dialect === 'openai' ? 1515 : 2929);
      const pick = (list: readonly string[]) => list[Math.floor(random() * list.length)]!;
      const maybe = (list: readonly string[]) => (random() < 0.35 ? undefined : pick(list));
      const served: string[] = [];
      for (let round = 0; round < 60; round++) {
        const fields: Record<string, string | undefined> =
          dialect === 'openai'
            ? { max_tokens: maybe(NUMBERS), max_completion_tokens: maybe(NUMBERS), n: maybe(CHOICES), stream: maybe(STREAMS) }
            : { max_tokens: maybe(NUMBERS), stream: maybe(STREAMS) };
        const valid = Object.entries(fields).every(([name, raw]) => {
          if (name === 'stream') return raw === undefined || ['true', 'false', 'null'].includes(raw);
          return expectedValid(raw, name === 'n' ? 128 : OUTPUT_CAP_BOUND);
        });
        const model = dialect === 'openai' ? 'openai/gpt-4o' : 'claude-sonnet-4-20250514';
        const extra = Object.entries(fields)
          .filter(([, raw]) => raw !== undefined)
          .map(([name, raw]) => `,"${name}":${raw}`)
          .join('');
        const text = `{"model":"${model}","messages":[{"role":"user","content":"round ${round}"}]${extra}}`;
        const response = await fetch(`${h.url}${dialect === 'openai' ? '/v1/chat/completions' : '/v1/messages'}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${h.token('a')}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
          body: text,
        });
        const answer = await response.text();
        const label = `seed round ${round}: ${text} → ${response.status} ${answer.slice(0, 200)}`;
        if (!valid) {
          assert.equal(response.status, 400, label);
          assert.match(answer, /"code":"invalid_parameter"/, label);
          continue;
        }
        // a valid shape is served, or refused by the budget because its cap cannot fit $1,000 (2,147,483,647 tokens)
        assert.ok(response.status === 200 || response.status === 429, label);
        if (response.status === 429) assert.match(answer, /budget_exceeded/, label);
        else served.push(response.headers.get('x-tollgate-request-id')!);
      }
      assert.ok(served.length >= 5, `enough calls served to check the bound (${served.length})`);
      await waitFor(() => served.every((id) => h.historyLines('a').some((line) => line.request_id === id)), 'history of every served call');
      for (const id of served) {
        const line = h.historyLines('a').find((entry) => entry.request_id === id)!;
        const decision = h.events.find((event) => event.type === 'budget_decision' && event.request_id === id)!;
        const cost = Number((line.usage as Record<string, number>).cost_micros);
        assert.ok(
          cost <= Number(decision.estimate_usd_micros),
          `${id}: cost ${cost} µ$ within the reservation ${String(decision.estimate_usd_micros)} µ$ (${JSON.stringify(line.request_effective)})`,
        );
      }
    });
  }
});
