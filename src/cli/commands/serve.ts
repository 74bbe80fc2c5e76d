// `tollgate serve`: read the config from the environment once, start the proxy, stop gracefully on SIGINT/SIGTERM.
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../../config/load.ts';
import { createReplayProgress } from '../progress.ts';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start the proxy (API on LISTEN_ADDR, operator UI on UI_ADDR)')
    .action(async () => {
      let config;
      try {
        config = loadConfig({ env: process.env, cwd: process.cwd() });
      } catch (error) {
        if (error instanceof ConfigError) {
          process.stderr.write(`tollgate: configuration problem\n${error.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw error;
      }
      const started = Date.now();
      const progress = createReplayProgress({ stream: process.stderr });
      // loaded here, not at the top: other commands (and --help) should not pay for the whole proxy's modules
      const { startTollgate } = await import('../../main.ts');
      const tollgate = await startTollgate({ config, onReplayProgress: progress.update, log: progress.log });
      progress.done();
      process.stderr.write(`tollgate: ready in ${Date.now() - started} ms\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`tollgate: ${signal}, finishing in-flight calls…\n`);
          void tollgate.close().then(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
