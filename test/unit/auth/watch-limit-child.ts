// Helper process for registry-watches.test.ts, run where only 64 inotify watches exist: loads 500 agents, rescans, reports.
import fs from 'node:fs';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let attempts = 0;
const realWatch = fs.watch;
(fs as { watch: typeof fs.watch }).watch = ((...args: Parameters<typeof fs.watch>) => {
  attempts += 1;
  return realWatch(...args);
}) as typeof fs.watch;
syncBuiltinESMExports(); // the registry's `import { watch } from 'node:fs'` sees the counting one

const { AgentRegistry } = await import('../../../src/auth/registry.ts');
const root = mkdtempSync(join(tmpdir(), 'tollgate-watch-limit-'));
try {
  for (let index = 0; index < 500; index++) {
    mkdirSync(join(root, `agent-${index}`));
    writeFileSync(join(root, `agent-${index}`, 'metadata.json'), JSON.stringify({ token: `agent-${index}:s` }));
  }
  const warnings: string[] = [];
  const registry = new AgentRegistry({ contextRoot: root, maxWatches: 10_000, pollMs: 60_000, onWarning: (message) => warnings.push(message) });
  await registry.start();
  const firstAttempts = attempts;
  for (let scan = 0; scan < 5; scan++) await registry.reload();
  const report = { agents: registry.list().length, watched: registry.watchedDirs, firstAttempts, laterAttempts: attempts - firstAttempts, warnings };
  registry.stop();
  process.stdout.write(`${JSON.stringify(report)}\n`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
