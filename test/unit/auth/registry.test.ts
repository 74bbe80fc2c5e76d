import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentRegistry } from '../../../src/auth/registry.ts';

async function withRoot(run: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'tollgate-agents-'));
  try {
    await run(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function writeAgent(root: string, id: string, metadata: unknown, files: Record<string, string> = {}): Promise<void> {
  const dir = join(root, id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'metadata.json'), typeof metadata === 'string' ? metadata : JSON.stringify(metadata));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
}

function collect(): { warnings: string[]; changes: string[][]; onWarning: (m: string) => void; onChange: (ids: readonly string[]) => void } {
  const warnings: string[] = [];
  const changes: string[][] = [];
  return { warnings, changes, onWarning: (m) => warnings.push(m), onChange: (ids) => changes.push([...ids]) };
}

test('loads agents with their fields and authenticates only the right secret', () =>
  withRoot(async (root) => {
    await writeAgent(root, 'a', {
      token: 'a:s',
      pod: 'p1',
      service: 'svc',
      type: 'openclaw',
      timezone: 'Europe/Paris',
      budget: { limit_usd: 1, window: '1h' },
      ordinal: 2,
    });
    await writeAgent(root, 'bot-a', { token: 'bot-a:secret:with:colons' });
    const registry = new AgentRegistry({ contextRoot: root });
    await registry.reload();
    const agent = registry.get('a');
    assert.ok(agent);
    assert.deepEqual(
      { ...agent, dir: undefined },
      {
        id: 'a',
        secret: 's',
        pod: 'p1',
        service: 'svc',
        type: 'openclaw',
        timezone: 'Europe/Paris',
        dir: undefined,
        metadataBudget: { limit_usd: 1, window: '1h' },
        contextOverride: undefined,
        historyTokens: [],
      },
    );
    assert.equal(agent.dir, join(root, 'a'));
    assert.equal(registry.authenticate({ agentId: 'a', secret: 's' }), agent);
    assert.equal(registry.authenticate({ agentId: 'a', secret: 'wrong' }), null);
    assert.equal(registry.authenticate({ agentId: 'a', secret: 's ' }), null);
    assert.equal(registry.authenticate({ agentId: 'zz', secret: 'x' }), null, 'unknown agent (spec case 4)');
    assert.equal(registry.authenticate({ agentId: 'bot-a', secret: 'secret:with:colons' })?.id, 'bot-a', 'spec case 5');
    assert.deepEqual(
      registry.list().map((a) => a.id),
      ['a', 'bot-a'],
    );
  }));

test('stored token forms as cllama validateSecret', () =>
  withRoot(async (root) => {
    await writeAgent(root, 'plain', { token: 'just-a-secret' });
    await writeAgent(root, 'prefixed', { token: '  Bearer prefixed:s2  ' });
    await writeAgent(root, 'other', { token: 'someone-else:s3' });
    await writeAgent(root, 'none', { pod: 'p' });
    await writeAgent(root, 'numeric', { token: 12345 });
    const { warnings, onWarning } = collect();
    const registry = new AgentRegistry({ contextRoot: root, onWarning });
    await registry.reload();
    assert.ok(registry.authenticate({ agentId: 'plain', secret: 'just-a-secret' }));
    assert.ok(registry.authenticate({ agentId: 'prefixed', secret: 's2' }));
    assert.equal(registry.authenticate({ agentId: 'other', secret: 's3' }), null);
    assert.equal(registry.authenticate({ agentId: 'none', secret: '' }), null);
    assert.equal(registry.authenticate({ agentId: 'numeric', secret: '12345' }), null);
    assert.equal(registry.get('none')?.pod, 'p', 'an agent without a token is still known (for listing), it just cannot authenticate');
    assert.equal(warnings.filter((w) => /cannot authenticate/.test(w)).length, 3);
    assert.ok(
      warnings.every((w) => !w.includes('s3') && !w.includes('12345')),
      'no secret in a warning',
    );
  }));

test('path-like and non-plain ids are never loaded and never authenticated; one warning per name', () =>
  withRoot(async (root) => {
    const metadata = { token: 'secret-x' };
    await writeAgent(root, '.hidden', metadata);
    await writeAgent(root, '_ledger', metadata);
    await writeAgent(root, 'x..y', metadata);
    await writeAgent(root, 'sp ace', metadata);
    await writeAgent(root, join('nest', 'b'), metadata);
    const { warnings, onWarning } = collect();
    const registry = new AgentRegistry({ contextRoot: root, onWarning });
    await registry.reload();
    await registry.reload();
    assert.deepEqual(registry.list(), []);
    for (const agentId of ['.hidden', '_ledger', 'x..y', 'sp ace', 'nest/b', 'nest', '..', '.', '../' + 'nest', 'a/b', '']) {
      assert.equal(registry.authenticate({ agentId, secret: 'secret-x' }), null, agentId);
      assert.equal(registry.get(agentId), undefined, agentId);
    }
    for (const name of ['.hidden', '_ledger', 'x..y', 'sp ace']) {
      assert.equal(warnings.filter((w) => w.includes(`"${join(root, name)}"`)).length, 1, `one warning for ${name}`);
    }
  }));

test('reload picks up a changed metadata.json, a new agent and a removed one; version and onChange follow', () =>
  withRoot(async (root) => {
    await writeAgent(root, 'a', { token: 'a:old' });
    const { changes, onChange } = collect();
    const registry = new AgentRegistry({ contextRoot: root, onChange });
    await registry.reload();
    const v1 = registry.version;
    await registry.reload();
    assert.equal(registry.version, v1, 'an unchanged tree does not bump the version');

    await writeAgent(root, 'a', { token: 'a:new', pod: 'changed-pod' });
    await registry.reload();
    assert.equal(registry.authenticate({ agentId: 'a', secret: 'old' }), null);
    assert.equal(registry.authenticate({ agentId: 'a', secret: 'new' })?.pod, 'changed-pod');
    assert.ok(registry.version > v1);

    await writeAgent(root, 'b', { token: 'b:s' });
    await registry.reload();
    assert.ok(registry.authenticate({ agentId: 'b', secret: 's' }));

    await rm(join(root, 'a'), { recursive: true });
    await registry.reload();
    assert.equal(registry.get('a'), undefined);
    assert.equal(registry.authenticate({ agentId: 'a', secret: 'new' }), null);
    assert.deepEqual(changes.slice(1), [['a'], ['b'], ['a']]);
  }));

test('a broken metadata.json keeps the previous version; a new broken agent stays unknown; warnings name the file, not the content', () =>
  withRoot(async (root) => {
    await writeAgent(root, 'a', { token: 'a:good' });
    const { warnings, onWarning } = collect();
    const registry = new AgentRegistry({ contextRoot: root, onWarning });
    await registry.reload();
    await writeAgent(root, 'a', '{"token":"a:leaked-secret", oops');
    await writeAgent(root, 'n', '{"token":"n:other-secret"');
    await writeAgent(root, 'arr', '["not", "an", "object"]');
    await registry.reload();
    await registry.reload();
    assert.ok(registry.authenticate({ agentId: 'a', secret: 'good' }), 'previous good version kept');
    assert.equal(registry.authenticate({ agentId: 'a', secret: 'leaked-secret' }), null);
    assert.equal(registry.get('n'), undefined);
    assert.equal(registry.get('arr'), undefined);
    assert.equal(warnings.length, 3, `one warning per broken file, not per rescan: ${warnings.join(' | ')}`);
    assert.match(warnings.find((w) => w.includes('"a"'))!, /metadata\.json: not valid JSON.*keeping its previous version/);
    assert.match(warnings.find((w) => w.includes('"arr"'))!, /must be a JSON object/);
    assert.ok(warnings.every((w) => !w.includes('leaked-secret') && !w.includes('other-secret')));

    await writeAgent(root, 'a', { token: 'a:fixed' });
    await registry.reload();
    assert.ok(registry.authenticate({ agentId: 'a', secret: 'fixed' }));
  }));

test('budget kept raw even with wrong types; budget-override.json parsed, or marked when unparsable', () =>
  withRoot(async (root) => {
    await writeAgent(
      root,
      'typed',
      { token: 'typed:s', budget: { limit_usd: '1', max_requests: 1.5 } },
      { 'budget-override.json': '{"max_requests": 3, "window": "1h"}' },
    );
    await writeAgent(root, 'broken', { token: 'broken:s' }, { 'budget-override.json': '{"max_requests": ' });
    const registry = new AgentRegistry({ contextRoot: root });
    await registry.reload();
    const typed = registry.authenticate({ agentId: 'typed', secret: 's' });
    assert.ok(typed, 'a wrong type in budget does not lock the agent out (cllama: 403)');
    assert.deepEqual(typed.metadataBudget, { limit_usd: '1', max_requests: 1.5 });
    assert.deepEqual(typed.contextOverride, { max_requests: 3, window: '1h' });
    assert.equal(typed.contextOverrideError, undefined);
    const broken = registry.authenticate({ agentId: 'broken', secret: 's' });
    assert.ok(broken);
    assert.equal(broken.contextOverride, undefined);
    assert.match(broken.contextOverrideError ?? '', /^not valid JSON/, 'the problem alone: whoever reports it names the file once');

    await writeFile(join(root, 'broken', 'budget-override.json'), '{"max_requests": 5}');
    await registry.reload();
    assert.deepEqual(registry.get('broken')?.contextOverride, { max_requests: 5 });
    assert.equal(registry.get('broken')?.contextOverrideError, undefined);
  }));

test('a budget-override.json that stops parsing keeps its last good version in force, with a warning naming the file', () =>
  withRoot(async (root) => {
    const { warnings, onWarning } = collect();
    await writeAgent(root, 'a', { token: 'a:s', pod: 'p1' }, { 'budget-override.json': '{"limit_usd": 1, "window": "1h"}' });
    const registry = new AgentRegistry({ contextRoot: root, onWarning });
    await registry.reload();
    await writeFile(join(root, 'a', 'metadata.json'), JSON.stringify({ token: 'a:s', pod: 'p2' }));
    await writeFile(join(root, 'a', 'budget-override.json'), '{"limit_usd": 0.5, "win');
    await registry.reload();
    const agent = registry.get('a')!;
    assert.equal(agent.pod, 'p2', 'the rest of the agent is current');
    assert.deepEqual(agent.contextOverride, { limit_usd: 1, window: '1h' }, 'the last good override stays in force');
    assert.equal(agent.contextOverrideError, undefined);
    assert.ok(
      warnings.some(
        (line) => line.includes(join(root, 'a', 'budget-override.json')) && line.endsWith('its previous version stays in force until the file parses again'),
      ),
      warnings.join('\n'),
    );
    await writeFile(join(root, 'a', 'budget-override.json'), '{"limit_usd": 0.5, "window": "1h"}');
    await registry.reload();
    assert.deepEqual(registry.get('a')!.contextOverride, { limit_usd: 0.5, window: '1h' }, 'the fixed file applies');
  }));

test('service-auth: only cllama-history bearer entries with a token become history tokens, in file-name order', () =>
  withRoot(async (root) => {
    await writeAgent(
      root,
      'a',
      { token: 'a:s' },
      {
        'service-auth/b.json': JSON.stringify({ service: 'cllama-history', auth_type: 'bearer', token: 'history-token-2' }),
        'service-auth/a.json': JSON.stringify({ service: 'cllama-history', auth_type: 'bearer', token: 'history-token-1' }),
        'service-auth/other.json': JSON.stringify({ service: 'discord', auth_type: 'bearer', token: 'not-history' }),
        'service-auth/basic.json': JSON.stringify({ service: 'cllama-history', auth_type: 'basic', token: 'not-bearer' }),
        'service-auth/empty.json': JSON.stringify({ service: 'cllama-history', auth_type: 'bearer', token: '' }),
        'service-auth/broken.json': '{',
        'service-auth/notes.txt': 'ignored',
        'AGENTS.md': '# optional for tollgate',
      },
    );
    const { warnings, onWarning } = collect();
    const registry = new AgentRegistry({ contextRoot: root, onWarning });
    await registry.reload();
    assert.deepEqual(registry.get('a')?.historyTokens, ['history-token-1', 'history-token-2']);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /service-auth\/broken\.json: not valid JSON/);

    await writeFile(join(root, 'a', 'service-auth', 'c.json'), JSON.stringify({ service: 'cllama-history', auth_type: 'bearer', token: 'history-token-3' }));
    await registry.reload();
    assert.deepEqual(registry.get('a')?.historyTokens, ['history-token-1', 'history-token-2', 'history-token-3'], 'a new service-auth file is a change');
  }));

test('a missing context root means no agents, and agents appear once it exists', () =>
  withRoot(async (base) => {
    const root = join(base, 'later');
    const registry = new AgentRegistry({ contextRoot: root });
    await registry.reload();
    assert.deepEqual(registry.list(), []);
    await writeAgent(root, 'a', { token: 'a:s' });
    await registry.reload();
    assert.ok(registry.authenticate({ agentId: 'a', secret: 's' }));
  }));

test('concurrent reload calls all resolve after a scan that saw the latest files', () =>
  withRoot(async (root) => {
    const registry = new AgentRegistry({ contextRoot: root });
    const first = registry.reload();
    await writeAgent(root, 'late', { token: 'late:s' });
    const second = registry.reload();
    await Promise.all([first, second]);
    assert.ok(registry.get('late'));
  }));

test('started registry notices a new agent and a changed token through the watcher (bounded wait)', () =>
  withRoot(async (root) => {
    const registry = new AgentRegistry({ contextRoot: root, pollMs: 60_000 });
    await registry.start();
    try {
      await writeAgent(root, 'w', { token: 'w:one' });
      assert.ok(await eventually(() => registry.authenticate({ agentId: 'w', secret: 'one' }) !== null), 'new agent seen without reload()');
      await writeAgent(root, 'w', { token: 'w:two' });
      assert.ok(await eventually(() => registry.authenticate({ agentId: 'w', secret: 'two' }) !== null), 'changed token seen without reload()');
    } finally {
      registry.stop();
    }
  }));

test('started registry sees metadata.json written into an agent directory that appeared empty (bounded wait)', () =>
  withRoot(async (root) => {
    const registry = new AgentRegistry({ contextRoot: root, pollMs: 60_000 });
    await registry.start();
    try {
      await mkdir(join(root, 'slow'));
      await registry.reload(); // the empty directory has been seen: nothing to load yet
      assert.equal(registry.get('slow'), undefined);
      await writeFile(join(root, 'slow', 'metadata.json'), JSON.stringify({ token: 'slow:s' }));
      assert.ok(
        await eventually(() => registry.authenticate({ agentId: 'slow', secret: 's' }) !== null),
        'seen through the directory watcher, without reload()',
      );
    } finally {
      registry.stop();
    }
  }));

test('started registry falls back to the periodic rescan (bounded wait)', () =>
  withRoot(async (root) => {
    const registry = new AgentRegistry({ contextRoot: join(root, 'ctx'), pollMs: 20 });
    await registry.start(); // the root does not exist yet, so nothing can be watched: only the rescan can find the agent
    try {
      await writeAgent(join(root, 'ctx'), 'p', { token: 'p:s' });
      assert.ok(await eventually(() => registry.get('p') !== undefined));
    } finally {
      registry.stop();
    }
  }));

async function eventually(check: () => boolean): Promise<boolean> {
  for (let attempt = 0; attempt < 250; attempt += 1) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

test('one bad entry never stops the scan: a plain file, symlink loops, a FIFO, a device, an oversized file each fail alone, and later changes still apply', () =>
  withRoot(async (root) => {
    const { symlink } = await import('node:fs/promises');
    const { execFileSync } = await import('node:child_process');
    await writeAgent(root, 'good', { token: 'good:s' });
    await writeFile(join(root, 'README'), 'not an agent');
    await symlink(join(root, 'loop-b'), join(root, 'loop-a'));
    await symlink(join(root, 'loop-a'), join(root, 'loop-b'));
    await mkdir(join(root, 'self'));
    await symlink(join(root, 'self', 'metadata.json'), join(root, 'self', 'metadata.json'));
    await mkdir(join(root, 'fifo'));
    execFileSync('mkfifo', [join(root, 'fifo', 'metadata.json')]);
    await mkdir(join(root, 'device'));
    await symlink('/dev/zero', join(root, 'device', 'metadata.json'));
    await writeAgent(root, 'huge', JSON.stringify({ token: 'huge:s', pad: 'x'.repeat(2 * 1024 * 1024) }));
    const { warnings, onWarning } = collect();
    const registry = new AgentRegistry({ contextRoot: root, onWarning });
    let guard: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => (guard = setTimeout(() => reject(new Error('reload hung')), 20_000)));
    await Promise.race([registry.reload(), hung]).finally(() => clearTimeout(guard)); // a FIFO is not opened for a read that would wait for a writer
    assert.deepEqual(
      registry.list().map((agent) => agent.id),
      ['good'],
    );
    for (const [id, problem] of [
      ['loop-a', 'ELOOP'],
      ['self', 'ELOOP'],
      ['fifo', 'not a regular file'],
      ['device', 'not a regular file'],
      ['huge', 'too large'],
    ]) {
      assert.ok(
        warnings.some((w) => w.includes(`agent "${id}"`) && w.includes(problem)),
        `${id}: ${warnings.join('\n')}`,
      );
    }
    assert.ok(!warnings.some((w) => w.includes('README')), 'a plain file beside the agents is not an agent, nor worth a warning');
    await writeAgent(root, 'later', { token: 'later:s' });
    await rm(join(root, 'good'), { recursive: true });
    await registry.reload();
    assert.deepEqual(
      registry.list().map((agent) => agent.id),
      ['later'],
      'additions and removals apply in spite of the bad entries',
    );
    assert.equal(registry.authenticate({ agentId: 'good', secret: 's' }), null);
  }));

test('a model_policy is loaded typed and enforced (no "not enforced" warning); a wrongly typed one is named, file and field', () =>
  withRoot(async (root) => {
    await writeAgent(root, 'clamped', { token: 's1', model_policy: { mode: 'strict', allowed: [{ slot: 'primary', ref: 'openai/gpt-4o-mini' }] } });
    await writeAgent(root, 'open', { token: 's2', model_policy: { allowed: [] } });
    await writeAgent(root, 'typo', { token: 's3', model_policy: { allowed: [{ slot: 'primary', ref: 7 }] } });
    const { warnings, onWarning } = collect();
    const registry = new AgentRegistry({ contextRoot: root, onWarning });
    await registry.reload();
    const clamped = registry.authenticate({ agentId: 'clamped', secret: 's1' });
    assert.equal(clamped?.modelPolicy?.kind, 'policy');
    assert.equal(registry.authenticate({ agentId: 'typo', secret: 's3' })?.modelPolicy?.kind, 'invalid');
    assert.deepEqual(
      warnings.filter((w) => w.includes('model_policy')).map((w) => w.replace(root, '<root>')),
      ['agent "typo": <root>/typo/metadata.json: model_policy.allowed[0].ref: must be a string; every model call of agent "typo" is refused until it is fixed'],
    );
  }));
