// `tollgate validate`: checks the environment, context dir, providers.json and governance dir; exit 0 when clean, 1 with problems.
import type { Command } from 'commander';
import { colorWanted, createStyle, jsonText, type Style } from '../output.ts';
import { validateSetup, type Finding, type ValidationReport } from '../validate-checks.ts';

interface ValidateFlags {
  json?: boolean;
  contextDir?: string;
  authDir?: string;
  governanceDir?: string;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check the configuration, agent context, providers.json and governance policies; exit code 1 when anything is wrong')
    .option('--context-dir <dir>', 'agent context root (default CLAW_CONTEXT_ROOT)')
    .option('--auth-dir <dir>', 'directory of providers.json (default CLAW_AUTH_DIR)')
    .option('--governance-dir <dir>', 'governance policies (default CLAW_GOVERNANCE_DIR)')
    .option('--json', 'print JSON')
    .action(async (flags: ValidateFlags) => {
      const env = { ...process.env };
      if (flags.contextDir) env.CLAW_CONTEXT_ROOT = flags.contextDir;
      if (flags.authDir) env.CLAW_AUTH_DIR = flags.authDir;
      if (flags.governanceDir) env.CLAW_GOVERNANCE_DIR = flags.governanceDir;
      const report = await validateSetup({ env, cwd: process.cwd(), now: Date.now() });
      const style = createStyle(!flags.json && colorWanted(process.stdout));
      process.stdout.write(flags.json ? jsonText(report) : renderReport(report, style));
      process.exitCode = report.ok ? 0 : 1;
    });
}

export function renderReport(report: ValidationReport, style: Style): string {
  const { checked } = report;
  const lines = [
    `${style.bold('context')}     ${checked.context_root ?? style.dim('(not set)')} ${style.dim(`${checked.agents} agent${checked.agents === 1 ? '' : 's'}`)}`,
    `${style.bold('auth')}        ${checked.auth_dir ?? style.dim('(not set)')} ${style.dim(`${checked.providers} provider${checked.providers === 1 ? '' : 's'}`)}`,
    `${style.bold('governance')}  ${checked.governance_dir ?? style.dim('(not set: only metadata budgets and context overrides apply)')}${checked.governance_dir ? ` ${style.dim(`${checked.overrides} override${checked.overrides === 1 ? '' : 's'}, ${checked.shared_budgets} shared budget${checked.shared_budgets === 1 ? '' : 's'}`)}` : ''}`,
    ...report.notices.map((notice) => style.dim(`note: ${notice}`)),
    '',
  ];
  for (const finding of report.findings) lines.push(findingLine(finding, style));
  const errors = report.findings.filter((finding) => finding.severity === 'error').length;
  const warnings = report.findings.length - errors;
  if (report.findings.length > 0) lines.push('');
  lines.push(
    errors === 0
      ? style.green(`ok${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ': no problems found'}`)
      : style.red(`${errors} problem${errors === 1 ? '' : 's'}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}`),
  );
  return `${lines.join('\n')}\n`;
}

function findingLine(finding: Finding, style: Style): string {
  const mark = finding.severity === 'error' ? style.red('error  ') : style.yellow('warning');
  const where = finding.file ? `${style.bold(finding.file)}: ` : '';
  const field = finding.field ? `${style.cyan(finding.field)}: ` : '';
  return `${mark} ${where}${field}${finding.message}`;
}
