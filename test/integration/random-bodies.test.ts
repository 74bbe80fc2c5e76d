// Random request bodies on both routes, with and without a budget: every answer is a 200 or a coded 4xx, never a 5xx.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { seededRandom } from '../helpers/random.ts';

const ODD_VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  1e308,
  -1e308,
  2 ** 60,
  '',
  'x',
  '-5',
  '1e400',
  [],
  [1, 'a'],
  [null],
  {},
  { a: 1 },
  { type: 'text', text: 5 },
];
const OPTIONAL_FIELDS = [
  'max_tokens',
  'max_completion_tokens',
  'n',
  'stream',
  'stream_options',
  'tools',
  'system',
  'temperature',
  'thinking',
  'metadata',
  'response_format',
];

function randomBody(random: () => number, anthropic: boolean): Record<string, unknown> {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)];
  const message = (): unknown =>
    random() < 0.6
      ? {
          role: pick(['user', 'assistant', 'system', 'tool', 7, null]),
          content: pick(['hi', '', [{ type: 'text', text: 'a' }], [{ type: 'image_url', image_url: { url: 'data:x' } }], pick(ODD_VALUES)]),
        }
      : pick(ODD_VALUES);
  const models = anthropic
    ? ['claude-sonnet-4-5', 'anthropic/claude-3-5-haiku-latest', 'openai/gpt-4o']
    : ['openai/gpt-4o', 'openrouter/anthropic/claude-3-haiku', 'vendor/model', 'openai/', '/gpt-4o', 'gpt-4o'];
  const body: Record<string, unknown> = { model: random() < 0.85 ? pick(models) : pick(ODD_VALUES) };
  if (random() < 0.9) body.messages = random() < 0.8 ? Array.from({ length: Math.floor(random() * 4) }, message) : pick(ODD_VALUES);
  for (const field of OPTIONAL_FIELDS) if (random() < 0.25) body[field] = pick(ODD_VALUES);
  if (random() < 0.3) body.stream = true;
  if (random() < 0.2) body.stream_options = pick<unknown>([{ include_usage: true }, { include_usage: 'yes' }, null, 5]);
  return body;
}

describe('random request bodies', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { open: {}, governed: { budget: { limit_usd: 1000, window: '1h', max_requests: 100_000 } } } });
  });
  after(() => h.close());

  it("never answer 5xx, and every refusal is coded in the route's envelope", async () => {
    const random = seededRandom(20261129);
    const statuses = new Map<number, number>();
    for (let call = 0; call < 400; call++) {
      const anthropic = random() < 0.4;
      const body = JSON.stringify(randomBody(random, anthropic));
      const response = await fetch(`${h.url}${anthropic ? '/v1/messages' : '/v1/chat/completions'}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${h.token(random() < 0.5 ? 'open' : 'governed')}`,
          'content-type': 'application/json',
          'anthropic-version': '2023-06-01',
        },
        body,
      });
      const text = await response.text();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      assert.ok(response.status < 500, `${response.status} for ${body}: ${text}`);
      if (response.status >= 400) {
        const error = JSON.parse(text) as { type?: string; error: { code?: string; message: string } };
        assert.equal(error.type === 'error', anthropic, `the route's envelope for ${body}`);
        assert.ok(error.error.code && error.error.message, `a code and a message for ${body}: ${text}`);
      }
    }
    // odd max_tokens / n / stream values are refused (400) since they are checked, so fewer bodies are served
    assert.ok((statuses.get(200) ?? 0) > 50 && (statuses.get(400) ?? 0) > 50, `both outcomes exercised: ${JSON.stringify([...statuses])}`);
  });
});
