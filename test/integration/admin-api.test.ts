// The admin API on the UI port against a running tollgate: auth, agents and standing, history pages, shared, summary, live feed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminApiFixture, api, chat, json, sleep, TOKEN, waitUntil } from './admin-api-setup.ts';

describe('admin API', () => {
  const open = adminApiFixture();

  it('refuses every route without the token or with a wrong one (401), accepts the right one', async () => {
    const { ui } = await open();
    for (const path of ['/api/agents', '/api/agents/a', '/api/summary', '/api/shared', '/api/agents/a/history', '/api/nope']) {
      const missing = await api(ui, path, { token: null });
      assert.equal(missing.status, 401, `${path} without a token`);
      assert.equal((await json(missing)).error.code, 'unauthorized');
      assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
      const wrong = await api(ui, path, { token: 'wrong' });
      assert.equal(wrong.status, 401, `${path} with a wrong token`);
    }
    for (const path of ['/costs/api', '/metrics', '/no-such-page']) {
      const missing = await api(ui, path, { token: null });
      assert.equal(missing.status, 401, `${path} without a token`);
      assert.equal(await missing.text(), 'unauthorized\n');
      assert.equal((await api(ui, path, { token: 'wrong' })).status, 401);
    }
    // the dashboard shell holds no data: served without credentials so it can ask for the token; a wrong bearer is refused
    const shell = await api(ui, '/', { token: null });
    assert.equal(shell.status, 200);
    assert.match(shell.headers.get('content-type') ?? '', /text\/html/);
    assert.equal((await api(ui, '/', { token: 'wrong' })).status, 401);
    assert.equal((await api(ui, '/', { token: null, headers: { cookie: 'tollgate_ui_session=stale' } })).status, 200);
    const put = await api(ui, '/api/agents/a/override', { method: 'PUT', token: 'wrong', body: '{}' });
    assert.equal(put.status, 401);
    assert.equal((await api(ui, '/api/agents')).status, 200);
    assert.equal((await api(ui, '/costs/api')).status, 200);
    assert.equal((await api(ui, '/metrics')).status, 200);
    assert.equal((await api(ui, '/api/nope')).status, 404);
    assert.equal((await api(ui, '/api/agents', { method: 'POST' })).status, 405);
  });

  it('without a configured token reads are open and every write is refused with 403', async () => {
    const { h, ui } = await open({ env: { CLLAMA_UI_TOKEN: '' } });
    assert.equal((await api(ui, '/api/agents', { token: null })).status, 200);
    assert.equal((await api(ui, '/costs/api', { token: null })).status, 200);
    const put = await api(ui, '/api/agents/a/override', {
      method: 'PUT',
      token: null,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ limit_usd: 1, window: '1h', reason: 'x' }),
    });
    assert.equal(put.status, 403);
    const body = await json(put);
    assert.equal(body.error.code, 'writes_disabled');
    assert.match(body.error.message, /CLLAMA_UI_TOKEN/);
    const anyToken = await api(ui, '/api/agents/a/override', { method: 'DELETE', token: 'whatever' });
    assert.equal(anyToken.status, 403);
    assert.equal(existsSync(join(h.root, 'governance', 'a', 'budget.json')), false);
  });

  it('signs a browser in with ?token= (cookie, not the token), accepts the cookie for reads and same-origin writes only', async () => {
    const { ui } = await open();
    const bad = await api(ui, '/?token=wrong', { token: null });
    assert.equal(bad.status, 401);
    const signIn = await api(ui, '/agents/a?tab=calls&token=' + TOKEN, { token: null });
    assert.equal(signIn.status, 303);
    assert.equal(signIn.headers.get('location'), '/agents/a?tab=calls');
    const setCookie = signIn.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.ok(!setCookie.includes(TOKEN), 'the cookie must not hold the token');
    const cookie = setCookie.split(';')[0];
    assert.equal((await api(ui, '/api/agents', { token: null, headers: { cookie } })).status, 200);
    assert.equal((await api(ui, '/api/agents', { token: null, headers: { cookie: 'tollgate_ui_session=forged' } })).status, 401);
    const crossSite = await api(ui, '/api/agents/a/override', { method: 'DELETE', token: null, headers: { cookie, origin: 'https://evil.example' } });
    assert.equal(crossSite.status, 403);
    assert.equal((await json(crossSite)).error.code, 'forbidden');
    const sameSite = await api(ui, '/api/agents/a/override', { method: 'DELETE', token: null, headers: { cookie, origin: ui.url } });
    assert.equal(sameSite.status, 200);
    // ?token= is accepted on the live feed only, not on other API routes
    assert.equal((await api(ui, `/api/agents?token=${TOKEN}`, { token: null })).status, 401);
  });

  it('lists agents with spend per window, limits with remaining and reset, and totals', async () => {
    const { h, ui } = await open({ agents: { a: { budget: { limit_usd: 1, window: '1h', behavior: 'hard_stop' } }, b: {} } });
    assert.equal((await chat(h, 'a')).status, 200);
    assert.equal((await chat(h, 'a')).status, 200);
    await waitUntil(() => h.historyLines('a').length === 2);
    const costMicros = h.historyLines('a').reduce((sum, line) => sum + (line.usage as { cost_micros: number }).cost_micros, 0);
    assert.ok(costMicros > 0);
    const body = await json(await api(ui, '/api/agents'));
    assert.deepEqual(
      body.agents.map((agent: { id: string }) => agent.id),
      ['a', 'b'],
    );
    const a = body.agents[0];
    assert.equal(a.pod, 'test-pod');
    assert.equal(a.service, 'a');
    assert.deepEqual(a.policy, { status: 'ok' });
    assert.equal(a.state, 'ok');
    assert.equal(a.override, null);
    assert.equal(a.windows.length, 1);
    assert.equal(a.windows[0].window, '1h');
    assert.equal(a.windows[0].requests, 2);
    assert.equal(a.windows[0].spend_micros, costMicros);
    assert.equal(a.windows[0].input_tokens, 20);
    assert.equal(a.windows[0].output_tokens, 200);
    assert.equal(a.windows[0].unknown_cost_requests, 0);
    const [limit] = a.limits;
    assert.equal(limit.id, 'agent:a/usd/1h');
    assert.equal(limit.metric, 'usd_micros');
    assert.equal(limit.behavior, 'hard_stop');
    assert.equal(limit.limit, 1_000_000);
    assert.equal(limit.limit_usd, 1);
    assert.equal(limit.used, costMicros);
    assert.equal(limit.remaining, 1_000_000 - costMicros);
    assert.ok(limit.reset_in_ms > 3_500_000 && limit.reset_in_ms <= 3_600_000, `reset_in_ms ${limit.reset_in_ms}`);
    assert.ok(Date.parse(limit.reset_at) > Date.now());
    assert.equal(limit.source.kind, 'metadata');
    await waitUntil(() => ui.costs.ready);
    assert.equal(a.totals.requests, 2);
    assert.equal(a.totals.cost_micros, costMicros);
    const b = body.agents[1];
    assert.equal(b.state, 'unlimited');
    assert.deepEqual(b.limits, []);
    assert.equal(b.windows[0].window, '24h');
    assert.equal(b.windows[0].requests, 0);
  });

  it('shows one agent: each policy field with its source, the override file, recent calls newest first', async () => {
    const { h, ui } = await open({
      agents: { a: { budget: { limit_usd: 1, window: '1h' }, contextOverride: { behavior: 'soft_alert' } } },
      governance: { a: { max_requests: 50, reason: 'pilot', set_by: 'ops' } },
    });
    for (const tokens of [11, 22, 33]) assert.equal((await chat(h, 'a', { max_tokens: tokens })).status, 200);
    await waitUntil(() => h.historyLines('a').length === 3);
    const body = await json(await api(ui, '/api/agents/a'));
    assert.equal(body.agent.id, 'a');
    assert.equal(body.policy.status, 'ok');
    assert.equal(body.policy.fields.limit_usd.value, 1);
    assert.equal(body.policy.fields.limit_usd.source.kind, 'metadata');
    assert.equal(body.policy.fields.window.value, '1h');
    assert.equal(body.policy.fields.behavior.value, 'soft_alert');
    assert.equal(body.policy.fields.behavior.source.kind, 'context_override');
    assert.equal(body.policy.fields.max_requests.source.kind, 'governance');
    assert.deepEqual(body.agent.override, { present: true, reason: 'pilot', set_by: 'ops', expires_at: null });
    assert.equal(body.override.present, true);
    assert.deepEqual(body.override.content, { max_requests: 50, reason: 'pilot', set_by: 'ops' });
    assert.deepEqual(
      body.recent.calls.map((call: { output_tokens: number }) => call.output_tokens),
      [33, 22, 11],
    );
    const call = body.recent.calls[0];
    assert.equal(call.provider, 'openai');
    assert.equal(call.model, 'gpt-4o');
    assert.equal(call.status_code, 200);
    assert.ok(call.cost_micros > 0);
    assert.equal(call.response, undefined, 'summaries carry no bodies');
    assert.equal((await api(ui, '/api/agents/nobody')).status, 404);
    assert.equal((await api(ui, '/api/agents/..%2Fetc')).status, 404);
  });

  it('pages history: newest page by default, before= to page back, after= to page forward', async () => {
    const { h, ui } = await open();
    for (const tokens of [1, 2, 3, 4, 5]) {
      assert.equal((await chat(h, 'a', { max_tokens: tokens })).status, 200);
      await sleep(3); // distinct millisecond timestamps
    }
    await waitUntil(() => h.historyLines('a').length === 5);
    const newest = await json(await api(ui, '/api/agents/a/history?limit=2'));
    assert.equal(newest.order, 'newest_first');
    assert.deepEqual(
      newest.entries.map((entry: { output_tokens: number }) => entry.output_tokens),
      [5, 4],
    );
    const older = await json(await api(ui, `/api/agents/a/history?limit=2&before=${encodeURIComponent(newest.next.before)}`));
    assert.deepEqual(
      older.entries.map((entry: { output_tokens: number }) => entry.output_tokens),
      [3, 2],
    );
    const oldest = await json(await api(ui, `/api/agents/a/history?limit=2&before=${encodeURIComponent(older.next.before)}`));
    assert.deepEqual(
      oldest.entries.map((entry: { output_tokens: number }) => entry.output_tokens),
      [1],
    );
    assert.equal(oldest.next, null);
    const first = h.historyLines('a')[0].ts as string;
    const forward = await json(await api(ui, `/api/agents/a/history?limit=2&after=${encodeURIComponent(first)}`));
    assert.equal(forward.order, 'oldest_first');
    assert.deepEqual(
      forward.entries.map((entry: { output_tokens: number }) => entry.output_tokens),
      [2, 3],
    );
    assert.equal(forward.next.after, forward.entries[1].ts);
    const full = await json(await api(ui, '/api/agents/a/history?limit=1&full=1'));
    assert.equal(full.entries[0].response.format, 'json');
    assert.equal((await api(ui, '/api/agents/a/history?after=yesterday')).status, 400);
    assert.equal((await api(ui, '/api/agents/a/history?limit=0')).status, 400);
    assert.equal((await api(ui, '/api/agents/a/history?limit=x')).status, 400);
  });

  it('lists shared budgets with their members and standing', async () => {
    const { h, ui } = await open({ agents: { a: {}, b: {}, c: {} }, governance: { a: { shared: ['team'] }, b: { shared: ['team'] } } });
    mkdirSync(join(h.root, 'governance', '_shared'), { recursive: true });
    writeFileSync(join(h.root, 'governance', '_shared', 'team.json'), JSON.stringify({ limit_usd: 5, window: '1d' }));
    await h.tollgate.policies.reload();
    assert.equal((await chat(h, 'a')).status, 200);
    assert.equal((await chat(h, 'b')).status, 200);
    const body = await json(await api(ui, '/api/shared'));
    assert.equal(body.shared.length, 1);
    const [team] = body.shared;
    assert.equal(team.name, 'team');
    assert.deepEqual(team.members, ['a', 'b']);
    assert.deepEqual(team.problems, []);
    assert.equal(team.limits[0].id, 'shared:team/usd/1d');
    assert.equal(team.limits[0].shared, 'team');
    assert.equal(team.limits[0].limit_usd, 5);
    const perCall = h.historyLines('a')[0].usage as { cost_micros: number };
    assert.equal(team.limits[0].used, perCall.cost_micros * 2);
    const agents = await json(await api(ui, '/api/agents'));
    assert.equal(agents.agents[0].limits[0].shared, 'team');
  });

  it('summarises totals, states and the last 24 hours for the top bar', async () => {
    const { h, ui } = await open({ agents: { a: { budget: { max_requests: 1, window: '1h' } }, b: {}, c: { budget: { limit_usd: 'one' } } } });
    assert.equal((await chat(h, 'a')).status, 200);
    assert.equal((await chat(h, 'b')).status, 200);
    await waitUntil(() => ui.costs.ready);
    const body = await json(await api(ui, '/api/summary'));
    assert.equal(body.agents, 3);
    assert.deepEqual(body.agents_by_state, { ok: 0, near_limit: 0, exhausted: 1, unavailable: 1, unlimited: 1 });
    assert.equal(body.totals.requests, 2);
    assert.equal(body.last_24h.requests, 2);
    assert.equal(body.totals.cost_micros, body.last_24h.spend_micros);
    assert.equal(body.costs_ready, true);
    assert.equal(body.ledger.ok, true);
    assert.deepEqual(body.auth, { token_configured: true, writes_enabled: true });
    const c = (await json(await api(ui, '/api/agents'))).agents[2];
    assert.equal(c.policy.status, 'unavailable');
    assert.match(c.policy.reason, /limit_usd/);
  });

  it('streams the live feed with a replay buffer, Last-Event-ID and ?token= for EventSource', async () => {
    const { h, ui } = await open({ agents: { a: { budget: { max_requests: 1, window: '1h', behavior: 'hard_stop' } } } });
    assert.equal((await chat(h, 'a')).status, 200);
    assert.equal((await fetch(`${ui.url}/api/events?token=wrong`)).status, 401);
    const feed = await openFeed(`${ui.url}/api/events?token=${TOKEN}`);
    const replayed = await feed.until((events) => events.some((event) => event.data.type === 'response'));
    assert.ok(
      replayed.every((event) => event.data.type !== 'request'),
      'request events are left out by default',
    );
    assert.equal((await chat(h, 'a')).status, 429);
    const live = await feed.until((events) => events.some((event) => event.data.intervention === 'rate_limited'));
    const blocked = live.find((event) => event.data.intervention === 'rate_limited')!;
    assert.equal(blocked.data.claw_id, 'a');
    feed.close();

    const lastId = blocked.id;
    const resumed = await openFeed(`${ui.url}/api/events`, { authorization: `Bearer ${TOKEN}`, 'last-event-id': String(lastId - 1) });
    const afterResume = await resumed.until((events) => events.length > 0);
    assert.ok(
      afterResume.every((event) => event.id >= lastId),
      'only events after Last-Event-ID are replayed',
    );
    resumed.close();
    const filtered = await openFeed(`${ui.url}/api/events?types=intervention&token=${TOKEN}`);
    const onlyInterventions = await filtered.until((events) => events.length > 0);
    assert.ok(onlyInterventions.every((event) => event.data.type === 'intervention'));
    filtered.close();
  });
});

interface FeedEvent {
  id: number;
  data: Record<string, unknown>;
}

async function openFeed(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const events: FeedEvent[] = [];
  let buffer = '';
  const pump = async (): Promise<void> => {
    const { value, done } = await reader.read();
    if (done) throw new Error('feed ended');
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const id = /^id: (\d+)$/m.exec(block);
      const data = /^data: (.*)$/m.exec(block);
      if (id && data) events.push({ id: Number(id[1]), data: JSON.parse(data[1]) });
    }
  };
  return {
    async until(done: (events: FeedEvent[]) => boolean): Promise<FeedEvent[]> {
      while (!done(events)) await pump();
      return [...events];
    },
    close: () => controller.abort(),
  };
}
