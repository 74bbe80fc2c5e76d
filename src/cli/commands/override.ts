// `tollgate override set|clear <agent>`: writes or removes an agent's governance override through the admin API.
import { hostname, userInfo } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { formatMetric, formatPercent, fractionTone, formatUsd } from '../../dashboard/static/format.js';
import { adminRequest } from '../admin-client.ts';
import { type ConnectionFlags, runAdminCommand } from '../admin-command.ts';
import { jsonText, renderTable, type Style } from '../output.ts';

interface SetFlags extends ConnectionFlags {
  limitUsd?: number;
  maxRequests?: number;
  maxInputTokens?: number;
  maxOutputTokens?: number;
  maxTotalTokens?: number;
  maxConcurrent?: number;
  window?: string;
  behavior?: string;
  unknownCost?: string;
  downgradeTo?: string;
  reason?: string;
  setBy?: string;
  expiresAt?: string;
  policy?: Record<string, unknown>;
}

interface ClearFlags extends ConnectionFlags {
  reason?: string;
  setBy?: string;
}

export function registerOverride(program: Command): void {
  const override = program.command('override').description("set or clear an agent's governance budget override on a running tollgate (no restart)");
  withConnection(override.command('set <agent>'))
    .description("replace the agent's governance override ($CLAW_GOVERNANCE_DIR/<agent>/budget.json)")
    .option('--limit-usd <usd>', 'US dollars per window', positiveNumber)
    .option('--max-requests <n>', 'requests per window', positiveInteger)
    .option('--max-input-tokens <n>', 'input tokens per window', positiveInteger)
    .option('--max-output-tokens <n>', 'output tokens per window', positiveInteger)
    .option('--max-total-tokens <n>', 'tokens per window', positiveInteger)
    .option('--max-concurrent <n>', 'requests in flight at once', positiveInteger)
    .option('--window <duration>', 'rolling window: 30m, 1h, 24h, 7d')
    .option('--behavior <behavior>', 'hard_stop, rate_limit or soft_alert')
    .option('--unknown-cost <mode>', 'count_zero, block or estimate')
    .option('--downgrade-to <model>', 'provider/model to route to instead of refusing')
    .option('--reason <text>', 'why (required: recorded in the file and the audit log)')
    .option('--set-by <who>', 'who (default user@host)')
    .option('--expires-at <time>', 'ISO-8601 time after which the override stops applying')
    .option('--policy <json>', 'more policy fields as a JSON object, e.g. \'{"limits":[{"limit_usd":50,"window":"1d"}]}\'', jsonObject)
    .action(async (agent: string, flags: SetFlags) => {
      process.exitCode = await runSet(agent, flags);
    });
  withConnection(override.command('clear <agent>'))
    .description("remove the agent's governance override (its metadata budget and context override apply again)")
    .option('--reason <text>', 'why (recorded in the audit log)')
    .option('--set-by <who>', 'who (default user@host)')
    .action(async (agent: string, flags: ClearFlags) => {
      process.exitCode = await runClear(agent, flags);
    });
}

function withConnection(command: Command): Command {
  return command
    .option('--url <url>', 'the UI port of a running tollgate (default TOLLGATE_UI_URL, else UI_ADDR, else http://127.0.0.1:8081)')
    .option('--token <token>', 'the UI token (default CLLAMA_UI_TOKEN)')
    .option('--json', 'print the API answer as JSON');
}

/** The override body: --policy first, then each flag that was given (flags win). */
export function overrideBody(flags: SetFlags, defaultSetBy: string): Record<string, unknown> {
  const fromFlags: Record<string, unknown> = {
    limit_usd: flags.limitUsd,
    max_requests: flags.maxRequests,
    max_input_tokens: flags.maxInputTokens,
    max_output_tokens: flags.maxOutputTokens,
    max_total_tokens: flags.maxTotalTokens,
    max_concurrent: flags.maxConcurrent,
    window: flags.window,
    behavior: flags.behavior,
    unknown_cost: flags.unknownCost,
    downgrade_to: flags.downgradeTo,
    reason: flags.reason,
    set_by: flags.setBy,
    expires_at: flags.expiresAt,
  };
  const body: Record<string, unknown> = { ...flags.policy };
  for (const [key, value] of Object.entries(fromFlags)) if (value !== undefined) body[key] = value;
  body.set_by ??= defaultSetBy;
  return body;
}

async function runSet(agent: string, flags: SetFlags): Promise<number> {
  const body = overrideBody(flags, whoAmI());
  if (typeof body.reason !== 'string' || body.reason.trim() === '') {
    process.stderr.write('tollgate: an override needs a reason: add --reason "why" (it is kept in the file and the audit log)\n');
    return 1;
  }
  return runAdminCommand(flags, async (target, style) => {
    const answer = await adminRequest(target, {
      method: 'PUT',
      path: `/api/agents/${encodeURIComponent(agent)}/override`,
      body,
      expect: (value) => typeof value.file === 'string' && typeof value.override === 'object' && value.override !== null,
    });
    if (flags.json) return jsonText(answer);
    const lines = [`${style.green('override set')} for ${style.bold(agent)}: ${describePolicy(answer.override)}`, style.dim(`file ${answer.file}`)];
    if (answer.policy?.status !== 'ok') lines.push(style.red(`policy unavailable: ${answer.policy?.reason ?? ''}`));
    if (Array.isArray(answer.limits) && answer.limits.length > 0) lines.push('', limitsTable(answer.limits, style));
    return `${lines.join('\n')}\n`;
  });
}

async function runClear(agent: string, flags: ClearFlags): Promise<number> {
  const params = new URLSearchParams({ set_by: flags.setBy ?? whoAmI() });
  if (flags.reason) params.set('reason', flags.reason);
  return runAdminCommand(flags, async (target, style) => {
    const answer = await adminRequest(target, {
      method: 'DELETE',
      path: `/api/agents/${encodeURIComponent(agent)}/override?${params}`,
      expect: (value) => typeof value.file === 'string' && typeof value.cleared === 'boolean',
    });
    if (flags.json) return jsonText(answer);
    return answer.cleared
      ? `${style.green('override cleared')} for ${style.bold(agent)} ${style.dim(`(removed ${answer.file})`)}\n`
      : `${style.bold(agent)} had no override ${style.dim(`(${answer.file} does not exist)`)}\n`;
  });
}

function describePolicy(policy: Record<string, any> | undefined): string {
  if (!policy) return '';
  const amounts = [
    policy.limit_usd !== undefined && policy.limit_usd !== null ? formatUsd(policy.limit_usd) : null,
    policy.max_requests ? `${policy.max_requests} requests` : null,
    policy.max_total_tokens ? `${policy.max_total_tokens} tokens` : null,
  ]
    .filter(Boolean)
    .join(' and ');
  const parts = [
    amounts ? `${amounts}${policy.window ? ` per ${policy.window}` : ''}` : null,
    policy.behavior ?? null,
    policy.reason ? `"${policy.reason}"` : null,
    policy.set_by ? `by ${policy.set_by}` : null,
    policy.expires_at ? `until ${policy.expires_at}` : null,
  ];
  return parts.filter(Boolean).join(' · ');
}

function limitsTable(limits: any[], style: Style): string {
  return renderTable({
    style,
    columns: [{ header: 'LIMIT' }, { header: 'USED', align: 'right' }, { header: 'OF', align: 'right' }, { header: 'USE', align: 'right' }, { header: 'FROM' }],
    rows: limits.map((limit) => [
      `${limit.metric === 'usd_micros' ? 'spend' : limit.metric.replace('_', ' ')}${limit.window ? ` per ${limit.window}` : ''}${limit.shared ? ` · shared ${limit.shared}` : ''}`,
      formatMetric(limit.metric, limit.used),
      formatMetric(limit.metric, limit.limit),
      style.tone(fractionTone(Number(limit.used_fraction) || 0), formatPercent(limit.used_fraction)),
      limit.source?.kind ?? '',
    ]),
  });
}

function whoAmI(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `cli@${hostname()}`;
  }
}

function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError('must be a number > 0');
  return parsed;
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new InvalidArgumentError('must be a whole number > 0');
  return parsed;
}

function jsonObject(value: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(value);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed;
  } catch {
    // fall through
  }
  throw new InvalidArgumentError('must be a JSON object');
}
