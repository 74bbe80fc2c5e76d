// Seeded random traffic (errors, resets, cut and aborted streams, made-up models) while hostile observers watch: a
// misbehaving alert webhook, live-feed clients that read, stop reading or leave, and overlapping /metrics scrapes.
// Invariants: counters agree with history and the ledger, one alert per threshold, every alert delivered or said to be
// dropped, no redirect followed, audit lines whole with no provider key, feed readers see every event once, in order.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { PROVIDER_KEYS, startHarness, type Harness } from '../helpers/harness.ts';
import { seededRandom } from '../helpers/random.ts';
import { waitFor } from '../helpers/wait.ts';

const SEED = Number(process.env.OBSERVERS_SEED ?? 20260301);
const AGENTS = ['a0', 'a1', 'a2'];
const HOUR = 3_600_000;

interface Received {
  method: string;
  url: string;
  body: string;
  answered: number;
}

/** A webhook receiver whose every answer is drawn from the seed: accepts, fails, rate-limits, resets, redirects, floods. */
async function hostileWebhook(random: () => number): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      const entry: Received = { method: req.method ?? '', url: req.url ?? '', body, answered: 0 };
      received.push(entry);
      const draw = random();
      if (req.url !== '/hook/s3cret') (entry.answered = 200), res.writeHead(200).end('followed');
      else if (draw < 0.35) (entry.answered = 204), res.writeHead(204).end();
      else if (draw < 0.5) (entry.answered = 500), res.writeHead(500).end('boom');
      else if (draw < 0.6) (entry.answered = 429), res.writeHead(429, { 'retry-after': '1' }).end();
      else if (draw < 0.7) res.socket?.destroy();
      else if (draw < 0.8) (entry.answered = 302), res.writeHead(302, { location: '/moved' }).end();
      else {
        entry.answered = 200; // a 2xx with a body far bigger than anyone should read
        res.writeHead(200, { 'content-type': 'text/plain' });
        const chunk = Buffer.alloc(1 << 16, 121);
        let left = 256;
        const pump = () => {
          while (left > 0 && !res.destroyed) {
            left -= 1;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        pump();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook/s3cret`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An SSE reader of the live feed: every frame it gets, until stopped (or until it leaves after `leaveAfter` bytes). */
function feedReader(
  url: string,
  leaveAfter = Infinity,
): { frames: { id: number; data: Record<string, unknown> }[]; text: () => string; stop(): void; done: Promise<void> } {
  const controller = new AbortController();
  let text = '';
  const reader = {
    frames: [] as { id: number; data: Record<string, unknown> }[],
    text: () => text,
    stop: () => controller.abort(),
    done: (async () => {
      try {
        const response = await fetch(url, { signal: controller.signal });
        const decoder = new TextDecoder();
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          text += decoder.decode(chunk, { stream: true });
          if (text.length > leaveAfter) return controller.abort();
        }
      } catch {
        // stopped
      }
    })(),
  };
  return reader;
}

function parseFrames(text: string): { id: number; data: Record<string, unknown> }[] {
  return [...text.matchAll(/^id: (\d+)\ndata: (.*)\n\n/gm)].map((match) => ({ id: Number(match[1]), data: JSON.parse(match[2]) }));
}

/** A feed client that sends its request and never reads. */
function deafFeedClient(uiUrl: string): Promise<Socket> {
  const { hostname, port } = new URL(uiUrl);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => {
      socket.write('GET /api/events?types=request,response,error HTTP/1.1\r\nhost: x\r\n\r\n');
      socket.pause();
      resolve(socket);
    });
    socket.on('error', () => undefined);
  });
}

function metricSum(text: string, name: string, match: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(match).every(([label, value]) => line.includes(`${label}="${value}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const MODELS = [
  'openai/gpt-4o',
  'openai/gpt-4o-mini',
  'anthropic/claude-sonnet-4-20250514',
  'openai/made-up "quoted" \\ back',
  'openai/made-up\nnewline',
  'openrouter/x/é-ü',
];

describe(`observers under hostile conditions (seed ${SEED})`, () => {
  let h: Harness;
  let webhook: Awaited<ReturnType<typeof hostileWebhook>>;
  const random = seededRandom(SEED);

  before(async () => {
    webhook = await hostileWebhook(seededRandom(SEED + 1));
    const agents: Record<string, { budget: unknown }> = {};
    for (const id of AGENTS)
      agents[id] = { budget: { limit_usd: 0.002, window: '1h', behavior: 'soft_alert', alerts: [0.1, 0.25, 0.5, 0.75, 1, 2], unknown_cost: 'count_zero' } };
    h = await startHarness({ agents, env: { TOLLGATE_ALERT_WEBHOOK_URL: webhook.url } });
  });

  after(async () => {
    await h.close();
    await webhook.close();
  });

  it('keeps every observer consistent, bounded and quiet about secrets', { timeout: 120_000 }, async () => {
    const ui = h.tollgate.uiUrl;
    const readers = [feedReader(`${ui}/api/events?replay=0`), feedReader(`${ui}/api/events?replay=0&types=response,error,budget_alert`)];
    const leaver = feedReader(`${ui}/api/events?replay=0`, 2_000);
    const deaf = await Promise.all([0, 1, 2].map(() => deafFeedClient(ui)));
    let scraping = true;
    const scrapes: string[] = [];
    const scraper = (async () => {
      while (scraping) {
        const texts = await Promise.all([0, 1].map(async () => (await fetch(`${ui}/metrics`)).text()));
        scrapes.push(...texts);
      }
    })();

    const calls = Array.from({ length: 90 }, async (_, index) => {
      const agent = AGENTS[Math.floor(random() * AGENTS.length)];
      const model = MODELS[Math.floor(random() * MODELS.length)];
      const anthropic = model.startsWith('anthropic/') && random() < 0.5;
      const stream = random() < 0.5;
      const draw = random();
      const behavior: Record<string, unknown> = {
        usage: { input: 50 + Math.floor(random() * 400), output: 20 + Math.floor(random() * 200), cacheRead: random() < 0.3 ? 30 : undefined },
      };
      if (draw < 0.1) behavior.status = 500;
      else if (draw < 0.18) behavior.reset = true;
      else if (draw < 0.26 && stream) behavior.cutAfterChunks = 1;
      else if (draw < 0.3) behavior.usage = null;
      const abortMidStream = stream && draw >= 0.3 && draw < 0.4;
      if (abortMidStream) Object.assign(behavior, { chunks: 50, chunkGapMs: 5 });
      const badToken = random() < 0.05;
      const controller = new AbortController();
      const body = anthropic
        ? { model, max_tokens: 64, stream, messages: [{ role: 'user', content: `call ${index} Bearer ${PROVIDER_KEYS.openai}` }] }
        : { model, max_tokens: 64, stream, messages: [{ role: 'user', content: `call ${index}` }] };
      try {
        const response = await fetch(`${h.url}${anthropic ? '/v1/messages' : '/v1/chat/completions'}`, {
          method: 'POST',
          signal: controller.signal,
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${badToken ? `${agent}:wrong` : h.token(agent)}`,
            'x-fake-behavior': JSON.stringify(behavior),
          },
          body: JSON.stringify(body),
        });
        if (abortMidStream && response.body) {
          const iterator = (response.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
          await iterator.next();
          controller.abort();
          await iterator.next().catch(() => undefined);
        } else {
          await response.text();
        }
      } catch {
        // resets and aborts are part of the plan
      }
    });
    await Promise.all(calls);
    await waitFor(() => h.tollgate.deps.inFlight.count === 0 && h.tollgate.deps.history.pendingEntries === 0, 'calls charged and recorded');

    // every alert delivered (a 2xx to one of its POSTs) or said to be dropped
    const alerts = () => h.events.filter((event) => event.type === 'budget_alert');
    const dropped = (alert: Record<string, unknown>) =>
      h.events.some(
        (event) =>
          event.type === 'warning' &&
          String(event.error).startsWith('alert webhook') &&
          event.limit_id === alert.limit_id &&
          event.threshold === alert.threshold,
      );
    const delivered = (alert: Record<string, unknown>) =>
      webhook.received.some(
        (got) =>
          got.url === '/hook/s3cret' &&
          got.answered >= 200 &&
          got.answered < 300 &&
          got.body.includes(`"limit_id":${JSON.stringify(alert.limit_id)}`) &&
          JSON.parse(got.body).threshold === alert.threshold,
      );
    await waitFor(() => alerts().every((alert) => delivered(alert) || dropped(alert)), 'every alert delivered or reported');
    scraping = false;
    await scraper;
    const metrics = await (await fetch(`${ui}/metrics`)).text();

    // one alert per threshold crossing (window 1 h: no reminder within the test)
    const keys = alerts().map((alert) => `${alert.limit_id}@${alert.threshold}`);
    assert.ok(keys.length > 0, 'the traffic crossed some thresholds');
    assert.equal(new Set(keys).size, keys.length, `an alert fired twice: ${keys.join(' ')}`);
    // the webhook was POSTed to only, never sent elsewhere by a redirect
    assert.deepEqual(
      webhook.received.filter((got) => got.method !== 'POST' || got.url !== '/hook/s3cret'),
      [],
      'a redirect was followed',
    );

    // counters agree with history and the ledger, per agent
    for (const agent of AGENTS) {
      const entries = h.historyLines(agent);
      const usage = entries.map((entry) => entry.usage as Record<string, number>);
      const sum = (field: string) => usage.reduce((total, u) => total + (u[field] ?? 0), 0);
      const tokensIn =
        metricSum(metrics, 'tollgate_tokens_total', { agent, kind: 'input' }) +
        metricSum(metrics, 'tollgate_tokens_total', { agent, kind: 'cache_read' }) +
        metricSum(metrics, 'tollgate_tokens_total', { agent, kind: 'cache_write' });
      assert.equal(tokensIn, sum('prompt_tokens'), `${agent}: input tokens, metrics vs history`);
      assert.equal(metricSum(metrics, 'tollgate_tokens_total', { agent, kind: 'output' }), sum('completion_tokens'), `${agent}: output tokens`);
      assert.equal(metricSum(metrics, 'tollgate_cost_micros_total', { agent }), sum('cost_micros'), `${agent}: cost`);
      const [usd, requests, input] = await h.tollgate.ledger.standing(
        (['usd_micros', 'requests', 'input_tokens'] as const).map((metric) => ({
          id: `${agent}/${metric}`,
          scope: `agent:${agent}`,
          metric,
          windowMs: HOUR,
          limit: Number.MAX_SAFE_INTEGER,
        })),
      );
      assert.equal(usd.used, sum('cost_micros'), `${agent}: ledger spend vs history`);
      assert.equal(requests.used, entries.length, `${agent}: ledger requests vs history`);
      assert.equal(input.used, sum('prompt_tokens'), `${agent}: ledger input tokens vs history`);
      const outcomes = h.events.filter(
        (event) => (event.type === 'response' || event.type === 'error') && typeof event.path === 'string' && event.claw_id === agent,
      ).length;
      assert.equal(metricSum(metrics, 'tollgate_requests_total', { agent }), outcomes, `${agent}: requests_total vs outcome events`);
    }
    // every scrape was whole: each limit's gauge in each
    for (const text of scrapes) assert.equal(text.match(/^tollgate_budget_remaining\{/gm)?.length, AGENTS.length, 'a scrape lost budget gauges');

    // nothing secret anywhere an observer writes
    readers.forEach((reader) => reader.stop());
    await Promise.all(readers.map((reader) => reader.done));
    await leaver.done;
    const audit = JSON.stringify(h.events);
    for (const [where, text] of [
      ['audit', audit],
      ['metrics', metrics],
      ['feed', readers.map((reader) => reader.text()).join('')],
    ] as const) {
      for (const key of Object.values(PROVIDER_KEYS)) assert.ok(!text.includes(key), `${where} holds a provider key`);
      assert.ok(!text.includes('s3cret'), `${where} holds the webhook URL`);
    }

    // feed readers: strictly increasing ids, and exactly the audit events they asked for since they connected
    const firstSeen = (frames: { id: number; data: Record<string, unknown> }[]) => frames[0]?.id ?? 0;
    for (const [index, reader] of readers.entries()) {
      const frames = parseFrames(reader.text());
      assert.ok(frames.length > 0);
      frames.forEach((frame, at) => assert.ok(at === 0 || frame.id > frames[at - 1].id, 'ids increase'));
      const wanted =
        index === 0 ? (type: unknown) => type !== 'request' : (type: unknown) => type === 'response' || type === 'error' || type === 'budget_alert';
      const sent = frames.map((frame) => JSON.stringify(frame.data));
      const startAt = h.events.findIndex((event) => JSON.stringify(event) === sent[0]);
      assert.ok(startAt >= 0, `reader ${index}: its first frame is an audit line (first id ${firstSeen(frames)})`);
      const expected = h.events
        .slice(startAt)
        .filter((event) => wanted(event.type))
        .map((event) => JSON.stringify(event));
      assert.deepEqual(sent, expected.slice(0, sent.length), `reader ${index}: frames are the audit lines, in order, none missing`);
    }
    for (const socket of deaf) socket.destroy();
  });
});
