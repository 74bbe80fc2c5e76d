// Three tollgate processes sharing one Redis ledger hold one budget: 60 simultaneous calls against a limit that fits 10,
// and a threshold alert crossed on all three is posted once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { freePort, startProxyProcess, type RunningProxy } from '../helpers/process.ts';
import { writeProcessRoot } from '../helpers/process-root.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('a session budget on 3 replicas sharing Redis', () => {
  let fake: FakeUpstream;
  let root: string;
  const replicas: RunningProxy[] = [];
  const agent = `ses-${randomBytes(4).toString('hex')}`;
  // each call: 1,025 µ$; the session's 11,500 µ$ fits ten with their estimates; the agent's own $10 never binds
  const limitMicros = 11_500;

  before(async () => {
    fake = await startFakeUpstream({ delayMs: 20 });
    ({ root } = writeProcessRoot({
      name: 'session-replicas',
      upstreamUrl: fake.url,
      agentId: agent,
      metadata: { token: `${agent}:s`, budget: { limit_usd: 10, window: '1h', session: { limit_usd: limitMicros / 1e6, idle_ttl: '10m' } } },
    }));
    for (let i = 0; i < 3; i++) {
      replicas.push(
        await startProxyProcess({
          port: await freePort(),
          env: {
            CLAW_CONTEXT_ROOT: join(root, 'context'),
            CLAW_AUTH_DIR: join(root, 'auth'),
            CLAW_SESSION_HISTORY_DIR: join(root, `history-${i}`),
            TOLLGATE_LEDGER: 'redis',
            REDIS_URL,
            TOLLGATE_REDIS_PREFIX: `test-${agent}`,
            CLLAMA_BUDGET_FAIL_MODE: 'closed',
          },
        }),
      );
    }
  });
  after(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    const client = new Redis(REDIS_URL);
    const keys = await client.keys(`{test-${agent}}:*`);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
    await fake.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('200 concurrent calls of one session across 3 replicas: never past the session limit', async () => {
    const clients = replicas.map((replica) => new OpenAI({ baseURL: `${replica.url}/v1`, apiKey: `${agent}:s`, maxRetries: 0 }));
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) =>
        clients[i % 3].chat.completions.create(
          { model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 },
          { headers: { 'x-tollgate-session': 'task-7' } },
        ),
      ),
    );
    const admitted = results.filter((result) => result.status === 'fulfilled').length;
    const refused = results.filter((result) => result.status === 'rejected' && (result.reason as { status?: number }).status === 429).length;
    // closed mode: on a loaded machine a reserve Redis answers after its 1 s timeout is a 503, never an admission
    const unavailable = results.filter((result) => result.status === 'rejected' && (result.reason as { status?: number }).status === 503).length;
    assert.equal(admitted + refused + unavailable, 200, 'every call served, or refused with 429 (or 503 closed)');
    assert.ok(admitted >= 1 && admitted <= 11, `admitted ${admitted}`);
    assert.equal(fake.requests.length, admitted);
    await Promise.all(replicas.map((replica) => replica.stop()));
    const spent = historyCost(root, agent);
    assert.equal(spent.entries, admitted);
    assert.ok(spent.micros <= limitMicros, `spent ${spent.micros} µ$ must not exceed ${limitMicros} µ$`);
  });
});

describe('replicas sharing a Redis ledger', () => {
  let fake: FakeUpstream;
  let root: string;
  let webhook: Server;
  const alerts: Record<string, unknown>[] = [];
  const replicas: RunningProxy[] = [];
  const agent = `rep-${randomBytes(4).toString('hex')}`;
  // each call: 10 input + 100 output tokens of gpt-4o = 1,025 µ$; ten fit under 11,500 µ$ with their estimates
  const limitMicros = 11_500;

  before(async () => {
    fake = await startFakeUpstream({ delayMs: 30 });
    webhook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        alerts.push(JSON.parse(body) as Record<string, unknown>);
        res.end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    ({ root } = writeProcessRoot({
      name: 'replicas',
      upstreamUrl: fake.url,
      agentId: agent,
      metadata: { token: `${agent}:s`, budget: { limit_usd: limitMicros / 1e6, window: '1h', alerts: [0.5] } },
    }));
    for (let i = 0; i < 3; i++) {
      replicas.push(
        await startProxyProcess({
          port: await freePort(),
          env: {
            CLAW_CONTEXT_ROOT: join(root, 'context'),
            CLAW_AUTH_DIR: join(root, 'auth'),
            CLAW_SESSION_HISTORY_DIR: join(root, `history-${i}`),
            TOLLGATE_LEDGER: 'redis',
            REDIS_URL,
            // a namespace of its own: never meets keys another run (or an older layout) left in the shared Redis
            TOLLGATE_REDIS_PREFIX: `test-${agent}`,
            // closed: a ledger that cannot answer must show up as 503s here, never as silently admitted calls
            CLLAMA_BUDGET_FAIL_MODE: 'closed',
            TOLLGATE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/alerts`,
          },
        }),
      );
    }
  });
  after(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    const client = new Redis(REDIS_URL);
    const keys = await client.keys(`{test-${agent}}:*`);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
    await fake.close();
    webhook.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('never spends past the shared limit', async () => {
    const clients = replicas.map((replica) => new OpenAI({ baseURL: `${replica.url}/v1`, apiKey: `${agent}:s`, maxRetries: 0 }));
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        clients[i % 3].chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 }),
      ),
    );
    const admitted = results.filter((result) => result.status === 'fulfilled').length;
    const refused = results.filter((result) => result.status === 'rejected' && (result.reason as { status?: number }).status === 429).length;
    assert.equal(admitted + refused, 60);
    assert.ok(admitted >= 9, `at least 9 admitted, got ${admitted}`);
    assert.equal(fake.requests.length, admitted);
    // every replica settled calls past 50% of the limit; the claim in Redis lets exactly one of them post the alert
    for (let waited = 0; !alerts.some((alert) => alert.type === 'budget_alert') && waited < 10_000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50));
    // a replica that also believed it crossed first would post at about the same moment: give it time to show
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await Promise.all(replicas.map((replica) => replica.stop()));
    // the 60 identical calls are also a loop by the default thresholds (20 in 10 minutes): each replica posts that once
    const thresholds = alerts.filter((alert) => alert.type === 'budget_alert');
    assert.equal(thresholds.length, 1, `one alert for the shared threshold, got ${JSON.stringify(thresholds)}`);
    assert.equal(thresholds[0].threshold, 0.5);
    const spent = historyCost(root, agent);
    assert.equal(spent.entries, admitted);
    assert.ok(spent.micros <= limitMicros, `spent ${spent.micros} µ$ must not exceed ${limitMicros} µ$`);
  });
});

function historyCost(root: string, agent: string): { entries: number; micros: number } {
  let entries = 0;
  let micros = 0;
  for (const dir of readdirSync(root).filter((name) => name.startsWith('history-'))) {
    const file = join(root, dir, agent, 'history.jsonl');
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
      entries++;
      micros += Number(JSON.parse(line).usage.cost_micros);
    }
  }
  return { entries, micros };
}
