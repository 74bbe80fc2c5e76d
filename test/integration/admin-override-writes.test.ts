// The admin API's override writes against a running tollgate: the next request sees them, bad ones leave the file alone, each is audited.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminApiFixture, api, chat, json, waitUntil } from './admin-api-setup.ts';

describe('admin API: overrides', () => {
  const open = adminApiFixture();

  it('an override write raises the cap for the very next request, and clearing it restores the block; both are audited', async () => {
    // one call costs 10 × $2.50/M + 100 × $10/M = $0.001025; $0.0015 admits one
    const { h, ui } = await open({ agents: { a: { budget: { limit_usd: 0.0015, window: '1h', behavior: 'hard_stop' } } } });
    assert.equal((await chat(h, 'a')).status, 200);
    assert.equal((await chat(h, 'a')).status, 429);
    const put = await api(ui, '/api/agents/a/override', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ limit_usd: 1, reason: 'launch week', set_by: 'ops@test', expires_at: '2099-01-01T00:00:00Z' }),
    });
    assert.equal(put.status, 200, await put.clone().text());
    const written = await json(put);
    assert.equal(written.policy.status, 'ok');
    assert.equal(written.limits[0].limit_usd, 1);
    const file = join(h.root, 'governance', 'a', 'budget.json');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { limit_usd: 1, reason: 'launch week', set_by: 'ops@test', expires_at: '2099-01-01T00:00:00Z' });
    assert.equal((await chat(h, 'a')).status, 200, 'the next request sees the new cap');
    const listed = await json(await api(ui, '/api/agents'));
    assert.deepEqual(listed.agents[0].override, { present: true, reason: 'launch week', set_by: 'ops@test', expires_at: '2099-01-01T00:00:00Z' });

    const cleared = await api(ui, '/api/agents/a/override?reason=over', { method: 'DELETE' });
    assert.deepEqual(await json(cleared), { agent: 'a', cleared: true, file });
    assert.equal(existsSync(file), false);
    assert.equal((await chat(h, 'a')).status, 429, 'the metadata cap applies again');
    const again = await json(await api(ui, '/api/agents/a/override', { method: 'DELETE' }));
    assert.equal(again.cleared, false);

    await waitUntil(() => h.events.filter((event) => event.type === 'override_changed').length === 2);
    const [set, clear] = h.events.filter((event) => event.type === 'override_changed');
    assert.equal(set.claw_id, 'a');
    assert.equal(set.action, 'set');
    assert.equal(set.reason, 'launch week');
    assert.equal(set.set_by, 'ops@test');
    assert.equal(set.previous, null);
    assert.equal(clear.action, 'cleared');
    assert.equal(clear.reason, 'over');
    assert.deepEqual(clear.previous, { limit_usd: 1, reason: 'launch week', set_by: 'ops@test', expires_at: '2099-01-01T00:00:00Z' });
  });

  it('an override sets the runaway fields too: session, loop, timezone and forecast_alert take effect on the next call', async () => {
    const { h, ui } = await open({ agents: { a: {} } });
    const body = {
      session: { max_requests: 1, idle_ttl: '30m', header: 'x-run-id' },
      loop: { same_tool_call: 5, within: '5m', action: 'hard_stop', escalate_after: 2 },
      timezone: 'Europe/Paris',
      forecast_alert: true,
      reason: 'one call per run',
    };
    const put = await api(ui, '/api/agents/a/override', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(put.status, 200, await put.clone().text());
    assert.equal((await json(put)).policy.status, 'ok');
    const run = (id: string) =>
      fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.token('a')}`, 'content-type': 'application/json', 'x-run-id': id },
        body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 }),
      });
    assert.equal((await run('run-1')).status, 200);
    const second = await run('run-1');
    assert.equal(second.status, 429, 'the session block of the override caps the run');
    const refusal = await second.json();
    assert.deepEqual([refusal.budget.window, refusal.budget.session.id, refusal.error.message], ['session', 'run-1', 'session run-1 budget exceeded']);
    assert.equal((await run('run-2')).status, 200, 'another run has its own session');
    const badLoop = await api(ui, '/api/agents/a/override', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ loop: { same_tool_call: -1 }, reason: 'x' }),
    });
    assert.equal(badLoop.status, 400, 'the policy store still checks the fields in depth');
  });

  it('refuses bad overrides without touching the file', async () => {
    const { h, ui } = await open({ agents: { a: {} }, governance: { a: { max_requests: 5, window: '1h', reason: 'keep' } } });
    const file = join(h.root, 'governance', 'a', 'budget.json');
    const before = readFileSync(file, 'utf8');
    const put = (body: unknown) =>
      api(ui, '/api/agents/a/override', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });

    const unknownField = await put({ limit_usd: 1, window: '1h', reason: 'x', colour: 'red' });
    assert.equal(unknownField.status, 400);
    assert.equal((await json(unknownField)).error.code, 'invalid_request');
    const noReason = await json(await put({ limit_usd: 1, window: '1h' }));
    assert.match(noReason.error.message, /reason/);
    assert.equal((await put('{not json')).status, 400);
    assert.equal((await put({ reason: 'nothing set' })).status, 400);
    assert.equal((await put({ limit_usd: 1, window: '1h', reason: 'x', expires_at: '2001-01-01T00:00:00Z' })).status, 400);
    const badWindow = await put({ limit_usd: 1, window: 'soon', reason: 'x' });
    assert.equal(badWindow.status, 400);
    const badWindowBody = await json(badWindow);
    assert.equal(badWindowBody.error.code, 'invalid_override');
    assert.ok(badWindowBody.error.problems.some((problem: string) => problem.startsWith('window:')));
    // valid alone, unusable merged (no window anywhere): refused on a dry run, the file never written
    const unusable = await put({ limit_usd: 2, reason: 'no window' });
    assert.equal(unusable.status, 400);
    assert.equal((await json(unusable)).error.code, 'invalid_override');
    assert.equal(readFileSync(file, 'utf8'), before);
    assert.equal((await api(ui, '/api/agents/zz/override', { method: 'PUT', body: JSON.stringify({ limit_usd: 1, window: '1h', reason: 'x' }) })).status, 404);
    assert.equal(h.events.filter((event) => event.type === 'override_changed').length, 0);
    const detail = await json(await api(ui, '/api/agents/a'));
    assert.equal(detail.policy.status, 'ok');
  });
});
