// Threshold alerts (once per threshold per window, claimed in the ledger so replicas fire one between them) and their webhook delivery.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { attachAlertWebhook } from '../../../src/budget/alert-webhook.ts';
import { AlertTracker } from '../../../src/budget/alerts.ts';
import type { LimitSpec } from '../../../src/budget/policy/policy.ts';
import type { LimitStanding } from '../../../src/ledger/ledger.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { makeAgent, recordingBus } from './helpers.ts';
import { setup, settle } from './engine-setup.ts';
import { rawEvent } from '../../helpers/raw-event.ts';

const HOUR = 3_600_000;

describe('budget alerts', () => {
  it('fires each threshold once per window, and again once the window has rolled past the claim', async () => {
    const { admit, time, of } = setup();
    const agent = makeAgent({ budget: { limit_usd: 0.01, window: '1h', alerts: [0.5, 0.8, 1] } }); // 10,000 µ$
    const spend = async (micros: number) => settle(await admit({ agent, inputTokens: 1, maxOutputTokens: 1 }), micros);
    await spend(4000);
    assert.equal(of('budget_alert').length, 0);
    await spend(1500); // 55%
    assert.deepEqual(
      of('budget_alert').map((event) => event.threshold),
      [0.5],
    );
    await spend(1000); // 65%: nothing new
    assert.equal(of('budget_alert').length, 1);
    await spend(2000); // 85%
    assert.deepEqual(
      of('budget_alert').map((event) => event.threshold),
      [0.5, 0.8],
    );
    const alert = of('budget_alert')[1];
    assert.equal(alert.claw_id, 'a');
    assert.equal(alert.intervention, 'budget_alert');
    assert.equal(alert.limit_id, 'agent:a/usd/1h');
    assert.equal(alert.used_usd, 0.0085);
    assert.equal(alert.limit_usd, 0.01);

    time.advance(HOUR + 1); // everything left the window
    await spend(100); // 1%: below every threshold, nothing fires
    assert.equal(of('budget_alert').length, 2);
    await spend(5000); // 51%
    assert.deepEqual(
      of('budget_alert').map((event) => event.threshold),
      [0.5, 0.8, 0.5],
    );
    const ids = of('budget_alert').map((event) => event.alert_id);
    assert.ok(
      ids.every((id) => typeof id === 'string' && id.length > 0),
      'each alert has an id',
    );
    assert.equal(new Set(ids).size, ids.length, 'one id per alert fired (the same threshold next window is another alert)');
  });

  it('alerts on a shared budget once, whichever agent crosses it', async () => {
    const { admit, of } = setup({ shared: { team: { limit_usd: 0.001, window: '1d', alerts: [0.5] } } });
    const a = makeAgent({ id: 'a', budget: { shared: ['team'] } });
    const b = makeAgent({ id: 'b', budget: { shared: ['team'] } });
    await settle(await admit({ agent: a, inputTokens: 1, maxOutputTokens: 1 }), 600);
    await settle(await admit({ agent: b, inputTokens: 1, maxOutputTokens: 1 }), 100);
    const alerts = of('budget_alert');
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0].limit_id, 'shared:team/usd/1d');
    assert.equal(alerts[0].claw_id, 'a');
  });
});

describe('AlertTracker across replicas', () => {
  const spec: LimitSpec = {
    id: 'shared:team/usd/1h',
    scope: 'shared:team',
    metric: 'usd_micros',
    limit: 10_000,
    window: '1h',
    windowMs: HOUR,
    fixed: null,
    zone: 'UTC',
    behavior: 'hard_stop',
    models: null,
    modelPattern: null,
    alerts: [0.5],
    source: { kind: 'governance', file: '/gov/_shared/team.json' },
    field: 'limit_usd',
    entry: { limit_usd: 0.01 },
  };
  const standing = (used: number): LimitStanding => ({
    id: spec.id,
    scope: spec.scope,
    windowMs: spec.windowMs,
    metric: 'usd_micros',
    limit: spec.limit,
    used,
    reserved: 0,
    remaining: spec.limit - used,
    resetMs: 0,
  });

  it('fires once between trackers sharing a ledger, stays quiet for the window, then fires again if usage is still over', async () => {
    let now = 1_000_000;
    const ledger = new MemoryLedger({ now: () => now, sweepIntervalMs: 0 });
    const { bus, of } = recordingBus();
    const replicas = [0, 1, 2].map(() => new AlertTracker({ bus, ledger, now: () => now }));
    for (const tracker of replicas) await tracker.observe({ agentId: 'a', model: 'openai/gpt-4o', specs: [spec], standings: [standing(6_000)] });
    assert.equal(of('budget_alert').length, 1, 'one alert for three replicas that each saw the threshold reached');
    now += HOUR - 1;
    for (const tracker of replicas) await tracker.observe({ agentId: 'b', model: 'openai/gpt-4o', specs: [spec], standings: [standing(7_000)] });
    assert.equal(of('budget_alert').length, 1, 'still within the window of the first alert');
    now += 2;
    for (const tracker of replicas) await tracker.observe({ agentId: 'b', model: 'openai/gpt-4o', specs: [spec], standings: [standing(7_000)] });
    assert.deepEqual(
      of('budget_alert').map((event) => event.claw_id),
      ['a', 'b'],
      'a new window: one more, still only one',
    );
    await ledger.close();
  });
});

describe('alert webhook', () => {
  const servers: ReturnType<typeof createServer>[] = [];
  after(() => {
    for (const server of servers) server.close();
  });

  async function server(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ url: string; bodies: string[] }> {
    const bodies: string[] = [];
    const instance = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        bodies.push(body);
        handler(req, res, body);
      });
    });
    servers.push(instance);
    await new Promise<void>((resolve) => instance.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(instance.address() as AddressInfo).port}/hooks/secret-token`, bodies };
  }

  const alert = (threshold: number) => ({
    type: 'budget_alert' as const,
    claw_id: 'a',
    model: 'openai/gpt-4o',
    intervention: 'budget_alert',
    threshold,
    limit_id: 'agent:a/usd/1h',
  });

  it('posts each alert as JSON, retrying failures with backoff until it is accepted', async () => {
    let calls = 0;
    const keys: (string | undefined)[] = [];
    const target = await server((req, res) => {
      calls += 1;
      keys.push(req.headers['idempotency-key'] as string | undefined);
      assert.equal(req.method, 'POST');
      assert.equal(req.headers['content-type'], 'application/json');
      res.writeHead(calls <= 2 ? 503 : 204).end();
    });
    const { bus, of } = recordingBus();
    const webhook = attachAlertWebhook({ bus, url: target.url, retryDelaysMs: [1, 2, 4] });
    bus.emit(rawEvent(alert(0.5)));
    bus.emit(rawEvent({ type: 'intervention', claw_id: 'a', model: null, intervention: 'budget_exceeded' }));
    await webhook.idle();
    assert.equal(calls, 3);
    assert.equal(of('warning').length, 0);
    const delivered = JSON.parse(target.bodies[2]);
    assert.equal(delivered.type, 'budget_alert');
    assert.equal(delivered.threshold, 0.5);
    assert.equal(delivered.limit_id, 'agent:a/usd/1h');
    assert.equal(webhook.pending, 0);
    assert.match(keys[0] ?? '', /^[0-9a-f-]{36}$/, 'an idempotency key on every try');
    assert.deepEqual(keys, [keys[0], keys[0], keys[0]], 'the same key on each try of one alert: a receiver drops a repeat');
    bus.emit(rawEvent({ ...alert(0.8), alert_id: 'alert-from-the-tracker' }));
    await webhook.idle();
    assert.equal(keys.at(-1), 'alert-from-the-tracker', "the alert's own id is the key");
    await webhook.close();
  });

  it('gives up after the bounded tries and reports an error event without the secret URL', async () => {
    let calls = 0;
    const target = await server((_req, res) => {
      calls += 1;
      res.writeHead(500).end();
    });
    const { bus, of } = recordingBus();
    const webhook = attachAlertWebhook({ bus, url: target.url, retryDelaysMs: [1, 1, 1] });
    bus.emit(rawEvent(alert(0.8)));
    await webhook.idle();
    assert.equal(calls, 4);
    const [error] = of('warning');
    assert.match(String(error.error), /alert webhook \(127\.0\.0\.1:\d+\): delivery failed \(HTTP 500\); alert dropped/);
    assert.doesNotMatch(String(error.error), /secret-token/);
    await webhook.close();
  });

  it('does not retry a client error', async () => {
    let calls = 0;
    const target = await server((_req, res) => {
      calls += 1;
      res.writeHead(404).end();
    });
    const { bus, of } = recordingBus();
    const webhook = attachAlertWebhook({ bus, url: target.url, retryDelaysMs: [1, 1, 1] });
    bus.emit(rawEvent(alert(1)));
    await webhook.idle();
    assert.equal(calls, 1);
    assert.match(String(of('warning')[0].error), /HTTP 404/);
    await webhook.close();
  });

  it('times out a silent endpoint and reports it', async () => {
    const target = await server(() => undefined); // never answers
    const { bus, of } = recordingBus();
    const webhook = attachAlertWebhook({ bus, url: target.url, timeoutMs: 30, retryDelaysMs: [1] });
    bus.emit(rawEvent(alert(0.5)));
    await webhook.idle();
    assert.match(String(of('warning')[0].error), /timed out after 30 ms/);
    await webhook.close();
  });

  it('reports a network failure without the URL', async () => {
    const { bus, of } = recordingBus();
    const webhook = attachAlertWebhook({ bus, url: 'http://127.0.0.1:1/hooks/secret-token', retryDelaysMs: [1] });
    bus.emit(rawEvent(alert(0.5)));
    await webhook.idle();
    assert.equal(of('warning').length, 1);
    assert.doesNotMatch(String(of('warning')[0].error), /secret-token/);
    await webhook.close();
  });

  it('bounds its queue, dropping and reporting alerts beyond it, and never blocks the emitter', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const fakeFetch = (async () => {
      await gate;
      return new Response(null, { status: 200 });
    }) as typeof fetch;
    const { bus, of } = recordingBus();
    const webhook = attachAlertWebhook({ bus, url: 'http://example.invalid/hook', fetch: fakeFetch, maxQueue: 2 });
    for (let index = 0; index < 5; index++) bus.emit(rawEvent(alert(index + 1)));
    // one in delivery, two queued, two dropped
    assert.equal(webhook.pending, 3);
    assert.equal(of('warning').length, 2);
    assert.match(String(of('warning')[0].error), /queue full \(2 alerts waiting\)/);
    release();
    await webhook.idle();
    assert.equal(webhook.pending, 0);
    await webhook.close();
  });

  it('stops listening on close', async () => {
    let calls = 0;
    const fakeFetch = (async () => {
      calls += 1;
      return new Response(null, { status: 200 });
    }) as typeof fetch;
    const { bus } = recordingBus();
    const webhook = attachAlertWebhook({ bus, url: 'http://example.invalid/hook', fetch: fakeFetch });
    await webhook.close();
    bus.emit(rawEvent(alert(0.5)));
    await webhook.idle();
    assert.equal(calls, 0);
    const detach = attachAlertWebhook({ bus, url: 'http://example.invalid/hook', fetch: fakeFetch });
    detach();
    bus.emit(rawEvent(alert(0.8)));
    await detach.idle();
    assert.equal(calls, 0);
  });
});
