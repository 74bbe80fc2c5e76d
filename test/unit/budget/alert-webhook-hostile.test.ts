// The alert webhook against receivers that redirect, answer endlessly or ask to be left alone (Retry-After).
import { after, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { attachAlertWebhook, retryAfterMs } from '../../../src/budget/alert-webhook.ts';
import { recordingBus } from './helpers.ts';
import { rawEvent } from '../../helpers/raw-event.ts';

const alert = (threshold: number) => ({
  type: 'budget_alert' as const,
  claw_id: 'a',
  model: 'openai/gpt-4o',
  intervention: 'budget_alert',
  threshold,
  limit_id: 'agent:a/usd/1h',
});

describe('alert webhook against hostile receivers', () => {
  const servers: ReturnType<typeof createServer>[] = [];
  after(() => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
  });

  async function server(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    const instance = createServer((req, res) => {
      req.resume();
      req.on('end', () => handler(req, res));
    });
    servers.push(instance);
    await new Promise<void>((resolve) => instance.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(instance.address() as AddressInfo).port}`;
  }

  for (const status of [301, 302, 303, 307, 308]) {
    it(`does not follow a ${status} (fetch would resend a 301-303 as a GET without the alert and call it delivered), and says so`, async () => {
      const seen: string[] = [];
      const url = await server((req, res) => {
        seen.push(`${req.method} ${req.url}`);
        if (req.url === '/hook/secret-token') res.writeHead(status, { location: '/elsewhere' }).end();
        else res.writeHead(200).end();
      });
      const { bus, of } = recordingBus();
      const webhook = attachAlertWebhook({ bus, url: `${url}/hook/secret-token`, retryDelaysMs: [1, 1, 1] });
      bus.emit(rawEvent(alert(0.5)));
      await webhook.idle();
      assert.deepEqual(seen, ['POST /hook/secret-token'], 'posted once, the redirect not followed nor retried');
      assert.equal(of('warning').length, 1);
      assert.match(String(of('warning')[0].error), new RegExp(`HTTP ${status} redirect, not followed.*alert dropped`));
      assert.doesNotMatch(String(of('warning')[0].error), /secret-token/);
      await webhook.close();
    });
  }

  it('does not read the answer body: an endless body is not buffered', async () => {
    const total = 128 << 20;
    let written = 0;
    let closedEarly!: Promise<boolean>;
    const chunk = Buffer.alloc(1 << 16, 120);
    const url = await server((_req, res) => {
      closedEarly = new Promise((resolve) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const pump = () => {
          while (!res.destroyed && written < total) {
            written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        res.on('close', () => resolve(written < total));
        pump();
      });
    });
    const { bus, of } = recordingBus();
    const webhook = attachAlertWebhook({ bus, url, timeoutMs: 60_000, retryDelaysMs: [] });
    bus.emit(rawEvent(alert(0.8)));
    await webhook.idle();
    assert.equal(of('warning').length, 0, 'a 2xx is a delivery');
    assert.equal(await closedEarly, true, `the receiver's body was read to its end (${written} bytes) instead of dropped`);
    await webhook.close();
  });

  it('waits as long as a Retry-After asks (bounded by maxRetryAfterMs) before trying again', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const calls: number[] = [];
      const answers = [
        new Response(null, { status: 429, headers: { 'retry-after': '30' } }),
        new Response(null, { status: 503, headers: { 'retry-after': '3600' } }),
        new Response(null, { status: 200 }),
      ];
      const fakeFetch = (async () => {
        calls.push(calls.length);
        return answers[calls.length - 1];
      }) as typeof fetch;
      const { bus, of } = recordingBus();
      const webhook = attachAlertWebhook({
        bus,
        url: 'http://example.invalid/hook',
        fetch: fakeFetch,
        retryDelaysMs: [500, 1000, 2000],
        maxRetryAfterMs: 60_000,
      });
      bus.emit(rawEvent(alert(1)));
      const settle = async () => {
        for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => queueMicrotask(resolve));
      };
      await settle();
      assert.equal(calls.length, 1);
      mock.timers.tick(29_999);
      await settle();
      assert.equal(calls.length, 1, 'Retry-After: 30 is waited out, not the 0.5 s backoff');
      mock.timers.tick(1);
      await settle();
      assert.equal(calls.length, 2);
      mock.timers.tick(59_999);
      await settle();
      assert.equal(calls.length, 2, 'an hour is held to maxRetryAfterMs');
      mock.timers.tick(1);
      await settle();
      assert.equal(calls.length, 3);
      await webhook.idle();
      assert.equal(of('warning').length, 0);
      await webhook.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('close ends a wait between tries at once', { timeout: 15_000 }, async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let calls = 0;
      const fakeFetch = (async () => {
        calls += 1;
        return new Response(null, { status: 503, headers: { 'retry-after': '50' } });
      }) as typeof fetch;
      const { bus, of } = recordingBus();
      const webhook = attachAlertWebhook({ bus, url: 'http://example.invalid/hook', fetch: fakeFetch });
      bus.emit(rawEvent(alert(0.5)));
      for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => queueMicrotask(resolve));
      await webhook.close(); // would hang on the mocked 50 s wait if close did not end it
      assert.equal(calls, 1);
      assert.match(String(of('warning')[0]?.error), /HTTP 503.*alert dropped/);
    } finally {
      mock.timers.reset();
    }
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-03-01T00:00:00Z');
    assert.equal(retryAfterMs('7', now), 7000);
    assert.equal(retryAfterMs(' 0 ', now), 0);
    assert.equal(retryAfterMs('Sun, 01 Mar 2026 00:00:09 GMT', now), 9000);
    assert.equal(retryAfterMs('Sat, 28 Feb 2026 00:00:00 GMT', now), 0);
    assert.equal(retryAfterMs('soon', now), null);
    assert.equal(retryAfterMs(null, now), null);
  });
});
