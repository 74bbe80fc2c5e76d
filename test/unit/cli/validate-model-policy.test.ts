// `tollgate validate` and model policies: no "not enforced" warning; broken policies and downgrades outside the allow list are errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateSetup } from '../../../src/cli/validate-checks.ts';
import { ModelPolicyStore } from '../../../src/budget/policy/model-policy-store.ts';
import type { Agent } from '../../../src/auth/agent.ts';

function tree(): { root: string; env: Record<string, string>; write(path: string, value: unknown): void } {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-validate-mp-'));
  for (const dir of ['context', 'auth', 'governance']) mkdirSync(join(root, dir));
  const write = (path: string, value: unknown) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), typeof value === 'string' ? value : JSON.stringify(value));
  };
  write('auth/providers.json', { providers: { openai: { base_url: 'http://127.0.0.1:9/v1', api_key: 'sk-x' } } });
  return { root, write, env: { CLAW_CONTEXT_ROOT: join(root, 'context'), CLAW_AUTH_DIR: join(root, 'auth'), CLAW_GOVERNANCE_DIR: join(root, 'governance') } };
}

test('validate: an enforced policy draws no warning; a downgrade outside the allow list and a broken policy file are errors', async () => {
  const t = tree();
  try {
    t.write('context/ok/metadata.json', {
      token: 'ok:s',
      model_policy: {
        allowed: [
          { slot: 'primary', ref: 'openai/gpt-4o' },
          { slot: 'fallback', ref: 'openai/gpt-4o-mini' },
        ],
      },
      budget: { limit_usd: 5, window: '1h', downgrade_to: 'openai/gpt-4o-mini' },
    });
    t.write('context/leaky/metadata.json', {
      token: 'leaky:s',
      model_policy: { allowed: [{ slot: 'primary', ref: 'openai/gpt-4o' }] },
      budget: { limit_usd: 5, window: '1h', downgrade_to: 'openai/gpt-3.5-turbo' },
    });
    t.write('context/typo/metadata.json', { token: 'typo:s', model_policy: { allowed: 'openai/gpt-4o' } });
    t.write('context/central/metadata.json', { token: 'central:s' });
    t.write('governance/central/model-policy.json', '{"allowed": [');
    const report = await validateSetup({ env: t.env, cwd: t.root, now: Date.now() });
    const texts = report.findings.map((finding) => `${finding.severity} ${finding.text.replaceAll(t.root, '<root>')}`);
    assert.ok(!texts.some((text) => /not enforced/.test(text)), texts.join('\n'));
    assert.ok(
      texts.some((text) =>
        text.startsWith(
          'error <root>/context/leaky/metadata.json: allowed: agent "leaky"\'s budget downgrades to "openai/gpt-3.5-turbo", outside this allow list (openai/gpt-4o)',
        ),
      ),
      texts.join('\n'),
    );
    assert.ok(!texts.some((text) => text.includes('"ok"')), texts.join('\n'));
    assert.ok(
      texts.some((text) => text.startsWith('error <root>/context/typo/metadata.json: model_policy.allowed: must be an array')),
      texts.join('\n'),
    );
    assert.ok(
      texts.some((text) => text.startsWith('error <root>/governance/central/model-policy.json: ')),
      texts.join('\n'),
    );
    assert.equal(report.ok, false);
  } finally {
    rmSync(t.root, { recursive: true, force: true });
  }
});

test('store: the agent file overrides the pod file, which overrides metadata; changes apply on reload; a broken edit keeps the last good one', async () => {
  const t = tree();
  try {
    const agent = {
      id: 'a',
      pod: 'pod1',
      modelPolicy: { kind: 'policy', policy: { mode: '', allowed: [{ slot: 'primary', ref: 'openai/meta' }], file: 'm' } },
    } as unknown as Agent;
    const errors: string[] = [];
    const store = new ModelPolicyStore({ governanceDir: join(t.root, 'governance'), onError: (file, message) => errors.push(`${file}: ${message}`) });
    const ref = () => {
      const parsed = store.effective(agent);
      return parsed.kind === 'policy' ? parsed.policy.allowed[0].ref : parsed.kind;
    };
    await store.reload();
    assert.equal(ref(), 'openai/meta');
    t.write('governance/_shared/model-policy/pod1.json', { allowed: [{ slot: 'primary', ref: 'openai/pod' }] });
    await store.reload();
    assert.equal(ref(), 'openai/pod');
    t.write('governance/a/model-policy.json', { mode: 'reject', allowed: [{ slot: 'primary', ref: 'openai/agent' }] });
    await store.reload();
    assert.equal(ref(), 'openai/agent');
    t.write('governance/a/model-policy.json', '{"allowed": [ {"slot": "primary", "ref": "openai/half"');
    await store.reload();
    assert.equal(ref(), 'openai/agent', 'a half-saved file keeps the last good version');
    assert.ok(
      errors.some((line) => line.includes('previous version stays in force')),
      errors.join('\n'),
    );
    rmSync(join(t.root, 'governance', 'a'), { recursive: true });
    await store.reload();
    assert.equal(ref(), 'openai/pod');
  } finally {
    rmSync(t.root, { recursive: true, force: true });
  }
});
