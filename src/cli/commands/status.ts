// `tollgate status`: agents, spend and budgets from a running proxy's admin API, or offline from the history files.
import type { Command } from 'commander';
import { AdminRequestError, adminRequest, resolveAdminTarget } from '../admin-client.ts';
import { historyStatus } from '../history-status.ts';
import { colorWanted, createStyle, jsonText } from '../output.ts';
import { renderHistoryStatus, renderLiveStatus } from '../status-render.ts';

interface StatusOptions {
  url?: string;
  token?: string;
  json?: boolean;
  historyDir?: string;
  offline?: boolean;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('agents, spend and budgets: from a running proxy (UI port), or offline from the session history')
    .option('--url <url>', 'the UI port of a running tollgate (default TOLLGATE_UI_URL, else UI_ADDR, else http://127.0.0.1:8081)')
    .option('--token <token>', 'the UI token (default CLLAMA_UI_TOKEN)')
    .option('--history-dir <dir>', 'compute from these history files instead of asking a running proxy')
    .option('--offline', 'compute from CLAW_SESSION_HISTORY_DIR instead of asking a running proxy')
    .option('--json', 'print JSON')
    .action(async (options: StatusOptions) => {
      process.exitCode = await runStatus(options);
    });
}

async function runStatus(options: StatusOptions): Promise<number> {
  const env = process.env;
  const style = createStyle(!options.json && colorWanted(process.stdout));
  const historyDir = options.historyDir ?? (options.offline ? env.CLAW_SESSION_HISTORY_DIR : undefined);
  if (options.offline && !historyDir) {
    process.stderr.write('tollgate: --offline needs CLAW_SESSION_HISTORY_DIR (or use --history-dir <dir>)\n');
    return 1;
  }
  if (historyDir) return offlineStatus({ dir: historyDir, json: options.json === true, style });

  const target = resolveAdminTarget({ url: options.url, token: options.token, env });
  try {
    const [summary, agents, shared] = await Promise.all([
      adminRequest(target, {
        path: '/api/summary',
        expect: (value) => typeof value.totals === 'object' && value.totals !== null && typeof value.last_24h === 'object',
      }),
      adminRequest(target, { path: '/api/agents', expect: (value) => Array.isArray(value.agents) }),
      adminRequest(target, { path: '/api/shared', expect: (value) => Array.isArray(value.shared) }),
    ]);
    const fetchedAt = Date.now();
    if (options.json) {
      process.stdout.write(jsonText({ source: 'api', url: target.url, summary, agents: agents.agents, shared: shared.shared }));
    } else {
      process.stdout.write(
        renderLiveStatus({ status: { url: target.url, summary, agents: agents.agents, shared: shared.shared }, style, now: Date.now(), fetchedAt }),
      );
    }
    return 0;
  } catch (error) {
    if (!(error instanceof AdminRequestError)) throw error;
    // Nothing listening and no explicit URL, but history is here: say so and show what the files hold.
    if (error.unreachable && !options.url && !env.TOLLGATE_UI_URL && env.CLAW_SESSION_HISTORY_DIR) {
      process.stderr.write(`tollgate: ${error.message}\ntollgate: showing the history in ${env.CLAW_SESSION_HISTORY_DIR} instead\n`);
      return offlineStatus({ dir: env.CLAW_SESSION_HISTORY_DIR, json: options.json === true, style });
    }
    process.stderr.write(`tollgate: ${error.message}\n`);
    return 1;
  }
}

async function offlineStatus(input: { dir: string; json: boolean; style: ReturnType<typeof createStyle> }): Promise<number> {
  const progress = process.stderr.isTTY && !input.json;
  const status = await historyStatus({
    dir: input.dir,
    now: Date.now(),
    onProgress: progress ? (entries) => process.stderr.write(`\rtollgate: reading history… ${entries.toLocaleString('en-US')} entries`) : undefined,
  });
  if (progress) process.stderr.write('\r\x1b[K');
  process.stdout.write(input.json ? jsonText(status) : renderHistoryStatus({ status, style: input.style, now: Date.now() }));
  return 0;
}
