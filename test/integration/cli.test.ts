// The real `tollgate` binary: status (live and offline), validate (clean, broken and hostile trees), override set|clear.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_JSON_FILE_BYTES } from '../../src/config/json-file.ts';
import { formatCount, formatUsdMicros } from '../../src/dashboard/static/format.js';
import { BIN } from '../helpers/process.ts';
import { driveTraffic, startOperatorFixture, UI_TOKEN, type OperatorFixture } from './operator-fixture.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the binary asynchronously (the UI server under test lives in this process and must keep serving). */
function tollgate(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, cwd, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error
        ? typeof (error as NodeJS.ErrnoException & { code?: unknown }).code === 'number'
          ? (error as unknown as { code: number }).code
          : 1
        : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const ANSI = /\x1b\[[0-9;]*m/;

interface ApiAgent {
  id: string;
  windows: { window: string; spend_micros: number; requests: number }[];
  totals: { cost_micros: number };
}

/** The numbers `status` prints of an agent. */
const comparable = (agent: ApiAgent) => [agent.id, agent.windows.map((w) => [w.window, w.spend_micros, w.requests]), agent.totals.cost_micros];

describe('tollgate status and override against a running proxy', { timeout: 120_000 }, () => {
  let fixture: OperatorFixture;
  before(async () => {
    fixture = await startOperatorFixture();
    await driveTraffic(fixture);
  });
  after(async () => {
    await fixture?.close();
  });

  it('status prints every agent with the numbers of the admin API, plain when piped', async () => {
    // compared with the API read just before and just after, equal: a number still moving (the cost totals are rebuilt
    // from history in the background at start) is read again instead of failing on a loaded machine
    const status = async (): Promise<{ run: Run; agents: ApiAgent[]; stable: boolean }> => {
      const before = JSON.stringify((await fixture.api('/api/agents')).agents.map(comparable));
      const run = await tollgate(['status', '--url', fixture.ui.url, '--token', UI_TOKEN]);
      const agents: ApiAgent[] = (await fixture.api('/api/agents')).agents;
      return { run, agents, stable: JSON.stringify(agents.map(comparable)) === before };
    };
    let read = await status();
    for (let tries = 0; !read.stable && tries < 20; tries++) read = await status();
    const { run, agents } = read;
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stdout, ANSI, 'no colour codes when piped');
    for (const agent of agents) {
      const window = agent.windows[agent.windows.length - 1];
      const line = run.stdout.split('\n').find((candidate) => candidate.startsWith(`${agent.id} `));
      assert.ok(line, `a row for ${agent.id}`);
      const cells = line.trim().split(/\s{2,}/);
      assert.equal(cells[2], window.window);
      assert.equal(cells[3], formatUsdMicros(window.spend_micros), `${agent.id} spend`);
      assert.equal(cells[4], formatCount(window.requests), `${agent.id} requests`);
      assert.equal(cells[7], formatUsdMicros(agent.totals.cost_micros), `${agent.id} recorded`);
    }
    assert.match(run.stdout, /^westin\s+requests per 1h\s+12\s+12\s+100%/m, 'the exhausted limit in the limits table');
    assert.match(run.stdout, /^shared:desk-shared\s+spend per 24h/m);
  });

  it('status --json is the admin API data; colour only when forced or on a TTY', async () => {
    const run = await tollgate(['status', '--url', fixture.ui.url, '--json'], { CLLAMA_UI_TOKEN: UI_TOKEN });
    assert.equal(run.code, 0, run.stderr);
    const parsed = JSON.parse(run.stdout);
    const { agents } = await fixture.api('/api/agents');
    assert.deepEqual(
      parsed.agents.map((agent: any) => [agent.id, agent.windows.at(-1).spend_micros]),
      agents.map((agent: any) => [agent.id, agent.windows.at(-1).spend_micros]),
    );
    assert.equal(parsed.summary.totals.cost_micros, (await fixture.api('/api/summary')).totals.cost_micros);
    const colored = await tollgate(['status', '--url', fixture.ui.url], { CLLAMA_UI_TOKEN: UI_TOKEN, FORCE_COLOR: '1' });
    assert.match(colored.stdout, ANSI);
  });

  it('status without the token, or with nothing listening, fails with a reason', async () => {
    const noToken = await tollgate(['status', '--url', fixture.ui.url]);
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /needs the UI token/);
    const wrong = await tollgate(['status', '--url', fixture.ui.url, '--token', 'nope']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /token was refused/);
    assert.doesNotMatch(wrong.stderr, /nope/, 'the token is never echoed');
    const down = await tollgate(['status', '--url', 'http://127.0.0.1:9']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach tollgate's UI port at http:\/\/127\.0\.0\.1:9/);
  });

  it('status --history-dir computes spend offline from the history files', async () => {
    const run = await tollgate(['status', '--history-dir', join(fixture.h.root, 'history'), '--json']);
    assert.equal(run.code, 0, run.stderr);
    const offline = JSON.parse(run.stdout);
    const costs = await fixture.api('/costs/api');
    for (const [id, totals] of Object.entries<any>(costs.agents)) {
      const agent = offline.agents.find((candidate: any) => candidate.id === id);
      assert.ok(agent, id);
      assert.equal(agent.totals.requests, totals.total_requests, `${id} calls`);
      assert.equal(formatUsdMicros(agent.totals.spend_micros), formatUsdMicros(Math.round(totals.total_cost_usd * 1e6)), `${id} cost`);
      assert.equal(agent.totals.unknown_cost_requests, totals.unpriced_requests, `${id} unpriced`);
    }
    const table = await tollgate(['status', '--history-dir', join(fixture.h.root, 'history')]);
    assert.match(table.stdout, /^westin\s+\$0\.\d+/m);
  });

  it('override set writes the governance file through the API and the new limit applies; clear removes it', async () => {
    const file = join(fixture.h.root, 'governance', 'westin', 'budget.json');
    const noReason = await tollgate(['override', 'set', 'westin', '--url', fixture.ui.url, '--token', UI_TOKEN, '--limit-usd', '5', '--window', '1h']);
    assert.equal(noReason.code, 1);
    assert.match(noReason.stderr, /needs a reason/);
    assert.equal(existsSync(file), false);

    const bad = await tollgate([
      'override',
      'set',
      'westin',
      '--url',
      fixture.ui.url,
      '--token',
      UI_TOKEN,
      '--limit-usd',
      '5',
      '--window',
      'soon',
      '--reason',
      'x',
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /window: must be a positive duration/);

    const set = await tollgate([
      'override',
      'set',
      'westin',
      '--url',
      fixture.ui.url,
      '--token',
      UI_TOKEN,
      '--limit-usd',
      '5',
      '--window',
      '1h',
      '--policy',
      '{"limits":[{"max_requests":100,"window":"1h"}]}',
      '--reason',
      'launch week',
      '--set-by',
      'ops@desk',
      '--expires-at',
      '2099-01-01T00:00:00Z',
    ]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /override set for westin: \$5\.00 per 1h · "launch week" · by ops@desk · until 2099-01-01T00:00:00Z/);
    const written = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(written, {
      limits: [{ max_requests: 100, window: '1h' }],
      limit_usd: 5,
      window: '1h',
      reason: 'launch week',
      set_by: 'ops@desk',
      expires_at: '2099-01-01T00:00:00Z',
    });
    const westin = (await fixture.api('/api/agents')).agents.find((agent: any) => agent.id === 'westin');
    assert.deepEqual(westin.limits.map((limit: any) => [limit.id, limit.limit]).sort(), [
      ['agent:westin/requests/1h', 100],
      ['agent:westin/usd/1h', 5_000_000],
    ]);

    const cleared = await tollgate(['override', 'clear', 'westin', '--url', fixture.ui.url, '--token', UI_TOKEN, '--reason', 'done', '--json']);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.equal(JSON.parse(cleared.stdout).cleared, true);
    assert.equal(existsSync(file), false);
    const again = await tollgate(['override', 'clear', 'westin', '--url', fixture.ui.url, '--token', UI_TOKEN]);
    assert.match(again.stdout, /westin had no override/);
    const unknown = await tollgate([
      'override',
      'set',
      'nobody',
      '--url',
      fixture.ui.url,
      '--token',
      UI_TOKEN,
      '--limit-usd',
      '1',
      '--window',
      '1h',
      '--reason',
      'x',
    ]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /404/);
  });
});

describe('tollgate validate', { timeout: 60_000 }, () => {
  let root: string;
  const env = () => ({
    CLAW_CONTEXT_ROOT: join(root, 'context'),
    CLAW_AUTH_DIR: join(root, 'auth'),
    CLAW_GOVERNANCE_DIR: join(root, 'governance'),
    CLAW_SESSION_HISTORY_DIR: join(root, 'history'),
  });
  const write = (path: string, content: unknown) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), typeof content === 'string' ? content : JSON.stringify(content));
  };
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'tollgate-validate-'));
    write('context/a/metadata.json', { token: 'a:secret-a', budget: { limit_usd: 5, window: '1h' } });
    write('context/b/metadata.json', { token: 'b:secret-b', budget: { shared: ['team'] } });
    write('auth/providers.json', { providers: { openai: { api_key: 'sk-test' } } });
    write('governance/a/budget.json', { limit_usd: 10, window: '24h', reason: 'launch' });
    write('governance/_shared/team.json', { limit_usd: 50, window: '1d' });
    mkdirSync(join(root, 'history'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('exits 0 on a clean tree', async () => {
    const run = await tollgate(['validate'], env(), root);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /ok: no problems found/);
    assert.match(run.stdout, /2 agents/);
    const json = JSON.parse((await tollgate(['validate', '--json'], env(), root)).stdout);
    assert.equal(json.ok, true);
    assert.deepEqual(json.findings, []);
    assert.deepEqual(
      { agents: json.checked.agents, providers: json.checked.providers, overrides: json.checked.overrides, shared: json.checked.shared_budgets },
      { agents: 2, providers: 1, overrides: 1, shared: 1 },
    );
  });

  it('exits 1 and names file and field of every problem', async () => {
    write('context/c/metadata.json', { token: 'c:secret-c', budget: { limit_usd: '1', window: '1h', colour: 'red' } });
    write('context/d/metadata.json', { token: '' });
    write('governance/a/budget.json', { limits: [{ limit_usd: 5 }], reason: 'x' });
    write('governance/ghost/budget.json', { limit_usd: 1, window: '1h' });
    write('governance/_shared/team.json', '{"limit_usd": 50, "window": ');
    const run = await tollgate(['validate', '--json'], env(), root);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.ok, false);
    const errors = report.findings
      .filter((finding: any) => finding.severity === 'error')
      .map((finding: any) => [finding.file.slice(root.length + 1), finding.field]);
    const warnings = report.findings
      .filter((finding: any) => finding.severity === 'warning')
      .map((finding: any) => [finding.file.slice(root.length + 1), finding.field]);
    assert.deepEqual(errors.sort(), [
      ['context/c/metadata.json', 'budget.limit_usd'],
      ['context/d/metadata.json', 'token'],
      ['governance/_shared/team.json', null],
      ['governance/a/budget.json', 'limits[0].window'],
    ]);
    assert.deepEqual(warnings.sort(), [
      ['context/c/metadata.json', 'budget.colour'],
      ['governance/ghost/budget.json', null],
    ]);
    const text = await tollgate(['validate', '--governance-dir', join(root, 'governance')], { ...env(), CLAW_GOVERNANCE_DIR: '/nonexistent' }, root);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /^error\s+\S+context\/c\/metadata\.json: budget\.limit_usd: must be a number of US dollars, got the string "1"$/m);
    assert.match(text.stdout, /^4 problems, 2 warnings$/m);
    assert.doesNotMatch(text.stdout, /secret-/, 'no token in the output');
  });

  it('reports environment problems by variable', async () => {
    const run = await tollgate(['validate', '--json'], { ...env(), LISTEN_ADDR: '8080' }, root);
    assert.equal(run.code, 1);
    const finding = JSON.parse(run.stdout).findings.find((candidate: any) => candidate.field === 'LISTEN_ADDR');
    assert.ok(finding, 'LISTEN_ADDR is named');
    assert.equal(finding.file, null);
    assert.match(finding.message, /did you mean ":8080"/);
  });
});

describe('tollgate validate takes what the proxy takes, and reads governance files as it does', { timeout: 60_000 }, () => {
  let root: string;
  const write = (path: string, content: unknown) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), typeof content === 'string' ? content : JSON.stringify(content));
  };
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'tollgate-validate-files-'));
    write('context/a/metadata.json', { token: 'a:secret-a' });
    write('elsewhere/e/metadata.json', { token: 'e:secret-e', budget: { limit_usd: '1', window: '1h' } });
    symlinkSync(join(root, 'elsewhere/e'), join(root, 'context/e'));
    write('auth/providers.json', { providers: { openai: { api_key: 'sk-test' } } });
    write('governance/e/budget.json', { limit_usd: 2, window: '1h' });
    write('governance/a/budget.json', JSON.stringify({ limit_usd: 1, window: '1h', reason: 'x'.repeat(MAX_JSON_FILE_BYTES) }));
    mkdirSync(join(root, 'governance/_shared'));
    execFileSync('mkfifo', [join(root, 'governance/_shared/team.json')]);
    symlinkSync('/dev/zero', join(root, 'governance/_shared/zero.json'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const validate = async () => {
    const run = await tollgate(
      ['validate', '--json'],
      {
        CLAW_CONTEXT_ROOT: join(root, 'context'),
        CLAW_AUTH_DIR: join(root, 'auth'),
        CLAW_GOVERNANCE_DIR: join(root, 'governance'),
      },
      root,
    );
    assert.equal(run.code, 1, `exit 1 with problems, not killed by the 30 s timeout: ${run.stdout}${run.stderr}`);
    const report = JSON.parse(run.stdout);
    return { report, lines: report.findings.map((finding: any) => `${finding.severity} ${finding.text.slice(root.length + 1)}`) as string[] };
  };

  it('checks a symlinked agent directory as the registry loads it', async () => {
    const { report, lines } = await validate();
    assert.equal(report.checked.agents, 2);
    assert.ok(lines.includes('error context/e/metadata.json: budget.limit_usd: must be a number of US dollars, got the string "1"'), lines.join('\n'));
    assert.deepEqual(
      lines.filter((line) => line.startsWith('warning')),
      [],
      'e is an agent, so governance/e/budget.json applies to someone',
    );
  });

  it('reports an oversized, a FIFO and a /dev/zero policy file by name, as the policy store does, without reading them', async () => {
    const { report, lines } = await validate();
    const size = statSync(join(root, 'governance/a/budget.json')).size;
    assert.deepEqual(
      lines.filter((line) => line.includes(' governance/')),
      [
        'error governance/_shared/team.json: not a regular file',
        'error governance/_shared/zero.json: not a regular file',
        `error governance/a/budget.json: too large (${size} bytes; at most ${MAX_JSON_FILE_BYTES} are read)`,
      ],
      "one error per unreadable file (the merged policy of agent a repeats its file's, and is not listed twice)",
    );
    assert.deepEqual({ overrides: report.checked.overrides, shared: report.checked.shared_budgets }, { overrides: 2, shared: 2 });
  });
});
