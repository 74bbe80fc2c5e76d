// The registry's directory watches are bounded, and when the system has no inotify watches left it falls back to rescans without retrying each one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentRegistry } from '../../../src/auth/registry.ts';
import { limitedWatch } from '../../helpers/watch-limit.ts';
import { waitFor } from '../../helpers/wait.ts';

async function withAgents(count: number, run: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'tollgate-watches-'));
  try {
    for (let index = 0; index < count; index++) await writeAgent(root, `agent-${index}`, `s${index}`);
    await run(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function writeAgent(root: string, id: string, secret: string): Promise<void> {
  await mkdir(join(root, id), { recursive: true });
  await writeFile(join(root, id, 'metadata.json'), JSON.stringify({ token: `${id}:${secret}` }));
}

test('at most maxWatches directories are watched; agents past it load and change through the rescan', () =>
  withAgents(300, async (root) => {
    const watch = limitedWatch(100_000);
    const warnings: string[] = [];
    const registry = new AgentRegistry({ contextRoot: root, maxWatches: 50, watch, pollMs: 50, onWarning: (message) => warnings.push(message) });
    await registry.start();
    try {
      assert.equal(registry.list().length, 300);
      assert.equal(registry.watchedDirs, 50);
      assert.equal(watch.open, 50);
      assert.equal(watch.attempts, 50, 'no watch is tried past the bound');
      assert.equal(warnings.filter((w) => w.includes('the most allowed')).length, 1);
      for (let index = 0; index < 300; index += 37) await writeAgent(root, `agent-${index}`, 'changed');
      await waitFor(() => [0, 37, 296].every((index) => registry.authenticate({ agentId: `agent-${index}`, secret: 'changed' }) !== null), 'changes seen');
      for (let index = 0; index < 5; index++) await registry.reload();
      assert.equal(watch.attempts, 50, 'rescans try no watch while full');
    } finally {
      registry.stop();
    }
    assert.equal(watch.open, 0, 'stop closes every watch');
  }));

test('no inotify watches left (ENOSPC): every agent loads, nothing throws, one warning, and rescans do not retry a watch per agent', () =>
  withAgents(400, async (root) => {
    const watch = limitedWatch(20);
    const warnings: string[] = [];
    const registry = new AgentRegistry({ contextRoot: root, watch, pollMs: 50, onWarning: (message) => warnings.push(message) });
    await registry.start();
    try {
      assert.equal(registry.list().length, 400);
      assert.equal(registry.watchedDirs, 20);
      assert.equal(watch.attempts, 21, 'the first refusal stops further attempts');
      for (let index = 0; index < 10; index++) await registry.reload();
      assert.equal(watch.attempts, 21, 'ten rescans of 400 agents tried no watch');
      const refusals = warnings.filter((w) => w.includes('ENOSPC'));
      assert.equal(refusals.length, 1, warnings.join('\n'));
      assert.match(refusals[0], /max_user_watches/);
      await writeAgent(root, 'newcomer', 'n');
      await writeAgent(root, 'agent-399', 'changed');
      await waitFor(
        () =>
          registry.authenticate({ agentId: 'newcomer', secret: 'n' }) !== null && registry.authenticate({ agentId: 'agent-399', secret: 'changed' }) !== null,
        'rescan picks changes up',
      );
    } finally {
      registry.stop();
    }
  }));

test('with the real limit (a user namespace allowing 64 inotify watches), 500 agents load and rescans stay off fs.watch', (t) => {
  const probe = spawnSync('unshare', ['-U', '-r', 'sh', '-c', 'echo 64 > /proc/sys/user/max_inotify_watches'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    t.skip('unshare -U -r is not permitted here');
    return;
  }
  const child = fileURLToPath(new URL('./watch-limit-child.ts', import.meta.url));
  const run = spawnSync(
    'unshare',
    ['-U', '-r', 'sh', '-c', `echo 64 > /proc/sys/user/max_inotify_watches && exec "${process.execPath}" --import tsx "${child}"`],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
    agents: number;
    watched: number;
    firstAttempts: number;
    laterAttempts: number;
    warnings: string[];
  };
  assert.equal(report.agents, 500);
  assert.equal(report.laterAttempts, 0, 'rescans after the refusal tried no watch');
  assert.ok(report.watched > 0 && report.watched <= 64, `watched ${report.watched}`);
  assert.equal(report.warnings.filter((w) => w.includes('ENOSPC')).length, 1, report.warnings.join('\n'));
});
