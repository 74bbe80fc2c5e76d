// `tollgate keys list|add|activate|disable|delete`: a running tollgate's provider key pools, through the admin API.
import type { Command } from 'commander';
import { adminRequest } from '../admin-client.ts';
import { type ConnectionFlags, runAdminCommand } from '../admin-command.ts';
import { jsonText, renderTable, type Style } from '../output.ts';

interface KeyRow {
  id: string;
  label?: string;
  masked_secret: string;
  state: string;
  cooldown_until: string | null;
  cooldown_remaining_ms: number | null;
  last_error_code: number | null;
  last_error_reason: string | null;
  last_error_at: string | null;
  requests: number;
  spend_usd: number;
}

interface ProviderRow {
  name: string;
  base_url: string;
  key_strategy: string;
  active_key_id: string | null;
  keys: KeyRow[];
}

const hasProviders = (value: { providers?: unknown }) => Array.isArray(value.providers);

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description("list and manage the providers' key pools of a running tollgate (masked keys; secrets are never shown)");
  withConnection(keys.command('list [provider]'))
    .description('every provider key: state, cooldown, last error, requests and spend')
    .action(async (provider: string | undefined, flags: ConnectionFlags) => {
      process.exitCode = await runAdminCommand(flags, async (target, style) => {
        const answer = await adminRequest(target, { path: '/api/providers', expect: hasProviders });
        const providers = (answer.providers as ProviderRow[]).filter((entry) => provider === undefined || entry.name === provider.toLowerCase());
        return flags.json ? jsonText({ providers }) : listText(providers, style);
      });
    });
  withConnection(keys.command('add <provider>'))
    .description('add a key at the end of the pool (read from stdin unless --secret is given: a command line is visible to ps)')
    .option('--label <label>', 'a label for the key')
    .option('--secret <secret>', 'the provider key')
    .action(async (provider: string, flags: ConnectionFlags & { label?: string; secret?: string }) => {
      const secret = flags.secret ?? (await readStdin()).trim();
      process.exitCode = await change(
        flags,
        { method: 'POST', path: `/api/providers/${encodeURIComponent(provider)}/keys`, body: { label: flags.label ?? '', secret } },
        `key added to ${provider}`,
      );
    });
  for (const action of ['activate', 'disable', 'delete'] as const) {
    const what = {
      activate: 'make the key ready and active (revives a dead or disabled key)',
      disable: 'stop using the key',
      delete: 'remove the key from the pool and providers.json',
    }[action];
    withConnection(keys.command(`${action} <provider> <key-id>`))
      .description(what)
      .action(async (provider: string, keyId: string, flags: ConnectionFlags) => {
        const base = `/api/providers/${encodeURIComponent(provider)}/keys/${encodeURIComponent(keyId)}`;
        const request = action === 'delete' ? { method: 'DELETE', path: base } : { method: 'POST', path: `${base}/${action}`, body: {} };
        process.exitCode = await change(flags, request, `${keyId} ${action === 'activate' ? 'activated' : action === 'disable' ? 'disabled' : 'deleted'}`);
      });
  }
}

function withConnection(command: Command): Command {
  return command
    .option('--url <url>', 'the UI port of a running tollgate (default TOLLGATE_UI_URL, else UI_ADDR, else http://127.0.0.1:8081)')
    .option('--token <token>', 'the UI token (default CLLAMA_UI_TOKEN; required for changes)')
    .option('--json', 'print the API answer as JSON');
}

async function change(flags: ConnectionFlags, request: { method: string; path: string; body?: unknown }, done: string): Promise<number> {
  return runAdminCommand(flags, async (target, style) => {
    const answer = await adminRequest(target, { ...request, expect: hasProviders });
    return flags.json ? jsonText(answer) : `${style.green(done)}\n`;
  });
}

function listText(providers: ProviderRow[], style: Style): string {
  if (providers.length === 0) return 'no providers\n';
  const now = Date.now();
  return `${providers
    .map((provider) => {
      const head = `${style.bold(provider.name)} ${style.dim(`${provider.base_url} · ${provider.key_strategy} · active ${provider.active_key_id ?? '-'}`)}`;
      const rows = provider.keys.map((key) => [
        key.id,
        key.label ?? '',
        key.masked_secret,
        stateText(key, style, now),
        key.last_error_code ? `${key.last_error_code} ${key.last_error_reason ?? ''} ${key.last_error_at ?? ''}`.trim() : '',
        String(key.requests),
        `$${Number(key.spend_usd).toFixed(4)}`,
      ]);
      const columns = [
        { header: 'KEY' },
        { header: 'LABEL' },
        { header: 'SECRET' },
        { header: 'STATE' },
        { header: 'LAST ERROR' },
        { header: 'REQUESTS', align: 'right' as const },
        { header: 'SPEND', align: 'right' as const },
      ];
      return `${head}\n${rows.length ? renderTable({ columns, rows, style, indent: '  ' }) : '  (no keys)'}`;
    })
    .join('\n\n')}\n`;
}

function stateText(key: KeyRow, style: Style, now: number): string {
  if (key.state === 'ready') return style.green('ready');
  if (key.state === 'cooldown')
    return style.tone('warn', `cooldown ${Math.ceil(Number(key.cooldown_remaining_ms ?? Date.parse(key.cooldown_until ?? '') - now) / 1000)}s`);
  if (key.state === 'dead') return style.red('dead');
  return style.dim(key.state);
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
