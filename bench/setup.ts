// Bench fixtures: a context root with an open and a governed agent, providers.json on the fake upstream, a seeded journal.
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { toRow } from '../src/ledger/amounts.ts';
import { encodeRecord } from '../src/ledger/journal/record.ts';

/**
 * Agents `open` (no budget), `governed` (a cllama budget that never refuses), `policied` (that and a model policy) and
 * `guarded` (that and a loop policy that may refuse), one OpenAI provider on the fake.
 */
export function writeBenchConfig(input: { root: string; upstreamUrl: string }): void {
  const { root } = input;
  const agents = [
    ['open', undefined],
    ['governed', { limit_usd: 1_000_000, max_requests: 1_000_000_000, window: '1h', behavior: 'hard_stop' }],
  ] as const;
  for (const [id, budget] of agents) {
    mkdirSync(join(root, 'context', id), { recursive: true });
    writeFileSync(join(root, 'context', id, 'metadata.json'), JSON.stringify({ token: `${id}:secret`, ...(budget ? { budget } : {}) }));
  }
  // `policied`: the governed agent's budget plus a model policy (the requested model allowed, with a fallback)
  mkdirSync(join(root, 'context', 'policied'), { recursive: true });
  writeFileSync(
    join(root, 'context', 'policied', 'metadata.json'),
    JSON.stringify({
      token: 'policied:secret',
      budget: agents[1][1],
      model_policy: {
        allowed: [
          { slot: 'primary', ref: 'openai/gpt-4o' },
          { slot: 'fallback', ref: 'openai/gpt-4o-mini' },
        ],
      },
    }),
  );
  // `guarded`: the governed agent's budget and a loop policy that could refuse, so each call waits for the loop breaker's
  // verdict (on Redis: its script beside the reserve); its thresholds are never met by the bench's identical calls
  mkdirSync(join(root, 'context', 'guarded'), { recursive: true });
  writeFileSync(
    join(root, 'context', 'guarded', 'metadata.json'),
    JSON.stringify({
      token: 'guarded:secret',
      budget: { ...agents[1][1], loop: { action: 'hard_stop', same_request: 200, within: '1ms', velocity_multiple: 0 } },
    }),
  );
  mkdirSync(join(root, 'auth'), { recursive: true });
  writeFileSync(
    join(root, 'auth', 'providers.json'),
    JSON.stringify({ providers: { openai: { base_url: `${input.upstreamUrl}/v1`, api_key: 'sk-bench', auth: 'bearer' } } }),
  );
}

/** Writes `records` settlements on one scope (or several in turn), spread evenly over the last 90% of the window, in the journal's line format. */
export async function seedJournal(input: { file: string; records: number; scope: string | readonly string[]; windowMs: number }): Promise<void> {
  mkdirSync(dirname(input.file), { recursive: true });
  const out = createWriteStream(input.file);
  const row = toRow({ usd_micros: 750, requests: 1, input_tokens: 100, output_tokens: 50, total_tokens: 150 });
  // several scopes: record i on the i-th in turn (a fleet's agents settling one after another)
  const scopeLists = (typeof input.scope === 'string' ? [input.scope] : input.scope).map((scope) => [scope]);
  const start = Date.now() - input.windowMs * 0.9;
  const step = (input.windowMs * 0.85) / input.records;
  let batch = '';
  for (let i = 0; i < input.records; i++) {
    batch += encodeRecord(Math.round(start + i * step), scopeLists[i % scopeLists.length], row);
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await once(out, 'drain');
      batch = '';
    }
  }
  out.end(batch);
  await once(out, 'finish');
}

/**
 * What one mode sends: chat completions JSON or streamed, or a Responses API call. Each call's text differs, as an
 * agent's turns do: the same body over and over is a loop, and the loop breaker would flag every call after the 20th
 * (its cost on that path is the loop-breaker table's).
 */
export function requestOf(mode: string, model: string): { path: string; body: (sequence: number) => string } {
  if (mode === 'responses') {
    return { path: '/v1/responses', body: (n) => JSON.stringify({ model, max_output_tokens: 32, input: `Say something short about ${n}.` }) };
  }
  return {
    path: '/v1/chat/completions',
    body: (n) => JSON.stringify({ model, stream: mode === 'stream', max_tokens: 32, messages: [{ role: 'user', content: `Say something short about ${n}.` }] }),
  };
}
