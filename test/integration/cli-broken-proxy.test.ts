// The CLI against a proxy that is down, broken or refuses the token: exit 1 with one clear line, never a stack trace or a false success.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startHarness } from '../helpers/harness.ts';
import { BIN } from '../helpers/process.ts';
import { overrideOnDisk, TOKEN } from './admin-random-setup.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function tollgate(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as unknown as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A server that answers every request the same broken way. */
async function brokenServer(answer: (res: import('node:http').ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    answer(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('the CLI against a proxy that is down, broken or refuses the token', { timeout: 300_000 }, () => {
  const servers: Server[] = [];
  after(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('status, override set and override clear exit 1 with one clear line, never a stack trace or a false success', async () => {
    const h = await startHarness({ agents: { a: {} }, env: { CLLAMA_UI_TOKEN: TOKEN } });
    try {
      const broken = {
        '500 JSON': (res: import('node:http').ServerResponse) =>
          res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"internal","message":"boom"}}'),
        '500 HTML page': (res: import('node:http').ServerResponse) =>
          res.writeHead(500, { 'content-type': 'text/html' }).end(`<html><body>${'<p>oops</p>\n'.repeat(2000)}</body></html>`),
        '200 not JSON': (res: import('node:http').ServerResponse) => res.writeHead(200).end('hello'),
        '200 JSON of another service': (res: import('node:http').ServerResponse) =>
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'),
        '200 null': (res: import('node:http').ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end('null'),
        'connection reset': (res: import('node:http').ServerResponse) => res.socket?.destroy(),
      };
      const closed = await brokenServer(() => undefined);
      await new Promise((resolve) => closed.server.close(resolve)); // nothing listens on its port any more
      const targets: [string, string, string][] = [
        ['down', closed.url, TOKEN],
        ['wrong token', h.tollgate.uiUrl, 'wrong-token'],
        ['not a URL', 'ftp://x', TOKEN],
      ];
      for (const [name, answer] of Object.entries(broken)) {
        const { url, server } = await brokenServer(answer);
        servers.push(server);
        targets.push([name, url, TOKEN]);
      }
      const commands = [['status'], ['override', 'set', 'a', '--limit-usd', '1', '--window', '1h', '--reason', 'x'], ['override', 'clear', 'a']];
      const runs: { name: string; command: string[]; run: Run }[] = [];
      for (const [name, url, token] of targets) {
        runs.push(
          ...(await Promise.all(commands.map(async (command) => ({ name, command, run: await tollgate([...command, '--url', url, '--token', token]) })))),
        );
      }
      // every broken run listed at once: a message, not a stack trace or a raw TypeError; exit 1 and nothing on stdout
      const problems: string[] = [];
      for (const { name, command, run } of runs) {
        const what = `${command.slice(0, 2).join(' ')} against ${name}`;
        if (run.code !== 1) problems.push(`${what}: exit ${run.code}, stdout ${JSON.stringify(run.stdout.slice(0, 120))}`);
        else if (run.stdout !== '') problems.push(`${what}: printed ${JSON.stringify(run.stdout.slice(0, 120))}`);
        if (!/^tollgate: \S/.test(run.stderr) || /\n\s+at |TypeError|Cannot read properties/.test(run.stderr))
          problems.push(`${what}: ${JSON.stringify(run.stderr.slice(0, 200))}`);
        if (run.stderr.length > 600) problems.push(`${what}: ${run.stderr.length} characters on stderr`);
        if (run.stderr.includes('wrong-token')) problems.push(`${what}: the token was echoed`);
      }
      assert.deepEqual(problems, []);
      assert.equal(overrideOnDisk(h, 'a'), null, 'nothing was written with a wrong token');
    } finally {
      await h.close();
    }
  });
});
