// `tollgate ledger reseed`: after a Redis loss, count every replica's session history back into the shared ledger, once.
import type { Command } from 'commander';
import { hostname } from 'node:os';
import { AgentRegistry } from '../../auth/registry.ts';
import { historyScopes } from '../../budget/history-scopes.ts';
import { PolicyStore } from '../../budget/policy/store.ts';
import { ConfigError, loadConfig } from '../../config/load.ts';
import { scanHistory } from '../../history/reader.ts';
import { LEDGER_RETENTION_MS } from '../../ledger/ledger.ts';
import { reseedRedisLedger } from '../../ledger/redis/reseed.ts';
import { jsonText } from '../output.ts';

interface ReseedFlags {
  historyDir?: string[];
  json?: boolean;
}

export function registerLedger(program: Command): void {
  const ledger = program.command('ledger').description('maintain the budget ledger');
  ledger
    .command('reseed')
    .description('re-seed the Redis ledger from session history after Redis lost its data (each ledger life is re-seeded once)')
    .option('--history-dir <dir...>', 'history directories of every replica (default CLAW_SESSION_HISTORY_DIR)')
    .option('--json', 'print JSON')
    .action(async (flags: ReseedFlags) => {
      let config;
      try {
        config = loadConfig({ env: process.env, cwd: process.cwd() });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        process.stderr.write(`tollgate: configuration problem\n${error.message}\n`);
        process.exitCode = 2;
        return;
      }
      if (config.ledger.kind !== 'redis') {
        process.stderr.write(
          'tollgate: ledger reseed needs TOLLGATE_LEDGER=redis (the embedded ledger rebuilds itself from history when its journal is missing)\n',
        );
        process.exitCode = 2;
        return;
      }
      const agents = new AgentRegistry({ contextRoot: config.contextRoot });
      const policies = new PolicyStore({ governanceDir: config.governanceDir });
      await agents.reload();
      await policies.reload();
      const { createRedisLedger } = await import('../../ledger/redis/ledger.ts');
      const redis = await createRedisLedger({ url: config.ledger.url, keyPrefix: config.ledger.keyPrefix });
      try {
        const dirs = flags.historyDir?.length ? flags.historyDir : [config.historyDir];
        async function* everyReplica() {
          for (const dir of dirs) yield* scanHistory({ dir });
        }
        const result = await reseedRedisLedger({
          ledger: redis,
          scan: everyReplica(),
          scopesFor: historyScopes({ agents, policies, now: Date.now }),
          retentionMs: LEDGER_RETENTION_MS,
          marker: `tollgate ledger reseed on ${hostname()} pid ${process.pid} at ${new Date().toISOString()}`,
        });
        if (flags.json) process.stdout.write(jsonText(result));
        else if (result.done)
          process.stdout.write(
            `re-seeded ${result.records} history entries (${result.live} already recorded live, ${result.expired} past retention, ${result.skipped} skipped)\n`,
          );
        else process.stdout.write(`not re-seeded: ${result.reason}\n`);
        process.exitCode = result.done ? 0 : 1;
      } finally {
        await redis.close();
      }
    });
}
