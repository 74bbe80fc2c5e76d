// Shared test helpers for history tests: temp dirs and small entries.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildHistoryEntry, type HistoryEntry } from '../../../src/history/entry.ts';

export async function makeTempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-history-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A small entry; `seq` goes into request_id and the request body so order can be checked. */
export function makeEntry(options: { agentId: string; seq: number; startedAt?: number }): HistoryEntry {
  return buildHistoryEntry({
    requestId: `req-${options.seq}`,
    startedAt: options.startedAt ?? Date.UTC(2026, 0, 1, 12, 0, 0) + options.seq,
    agentId: options.agentId,
    path: '/v1/chat/completions',
    requestedModel: 'openai/gpt-4o',
    effectiveProvider: 'openai',
    effectiveModel: 'gpt-4o',
    statusCode: 200,
    stream: false,
    requestOriginal: { model: 'openai/gpt-4o', messages: [{ role: 'user', content: `hello ${options.seq}` }] },
    response: { format: 'json', json: { id: `chatcmpl-${options.seq}` } },
    usage: { inputTokens: 10, outputTokens: 5 },
    price: { costMicros: 75, source: 'price_table' },
    latencyMs: 12,
  });
}

export async function readLines(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  return text.split('\n').filter((line) => line !== '');
}
