// `tollgate validate` on a newcomer's laptop: it checks the local `.tollgate/` fallback without creating it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateSetup } from '../../../src/cli/validate-checks.ts';
import { loadConfig } from '../../../src/config/load.ts';

test('a check writes nothing: no .tollgate folders made, the missing context root is a warning, not an error', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tollgate-validate-local-'));
  try {
    const report = await validateSetup({ env: {}, cwd, now: Date.now(), clawRoot: join(cwd, 'no-claw') });
    assert.deepEqual(readdirSync(cwd), [], 'nothing created');
    assert.equal(report.ok, true, JSON.stringify(report.findings));
    assert.equal(report.checked.context_root, join(cwd, '.tollgate', 'context'));
    assert.equal(report.checked.agents, 0);
    assert.ok(
      report.findings.some(
        (finding) => finding.severity === 'warning' && /local fallback .*\.tollgate\/context does not exist yet \(serve creates it\)/.test(finding.text),
      ),
      JSON.stringify(report.findings),
    );
    assert.ok(
      report.notices.some((notice) => /CLAW_CONTEXT_ROOT is unset/.test(notice)),
      'the same notices as serve',
    );
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('loadConfig with createLocalDirs false gives the same paths and notices, and creates nothing', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tollgate-load-nocreate-'));
  try {
    const config = loadConfig({ env: {}, cwd, clawRoot: join(cwd, 'no-claw'), createLocalDirs: false });
    assert.equal(config.contextRoot, join(cwd, '.tollgate', 'context'));
    assert.equal(config.historyDir, join(cwd, '.tollgate', 'history'));
    assert.equal(config.notices.length, 3);
    assert.ok(!existsSync(join(cwd, '.tollgate')));
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
