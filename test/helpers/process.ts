// Runs the real `tollgate` binary as a child process and waits until it serves.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/tollgate.js', import.meta.url));

export interface RunningProxy {
  readonly child: ChildProcess;
  readonly url: string;
  /** The audit stream so far ('' when it went elsewhere). */
  readonly stdout: () => string;
  readonly stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `tollgate serve` on a free port and resolves once /health answers. */
export async function startProxyProcess(options: {
  env: Record<string, string>;
  port: number;
  nodeArgs?: readonly string[];
  bin?: string;
  /** Where the audit stream goes instead of a pipe to this process (the bench hands it to a log sink process). */
  stdout?: Writable;
  /** LISTEN_ADDR as given (default `127.0.0.1:<port>`); it must listen on `port`. */
  listenAddr?: string;
}): Promise<RunningProxy> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.bin ?? BIN, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      ...options.env,
      LISTEN_ADDR: options.listenAddr ?? `127.0.0.1:${options.port}`,
      UI_ADDR: options.env.UI_ADDR ?? '127.0.0.1:0',
    },
    stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const url = `http://127.0.0.1:${options.port}`;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // start-up compiles every module (bin/ts-hooks.js): give a loaded CI machine a minute before calling it a failure
  for (let i = 0; i < 1200; i++) {
    if (child.exitCode !== null) throw new Error(`tollgate exited early (${child.exitCode}): ${err}`);
    try {
      const response = await fetch(`${url}/health`);
      if (response.ok) break;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (i === 1199) {
      child.kill('SIGKILL'); // never leave an orphan serving after a failed start
      throw new Error(`tollgate did not start (or /health never answered 200) within 60 s: ${err}`);
    }
  }
  return {
    child,
    url,
    stdout: () => out,
    stderr: () => err,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A free loopback port (bind to 0, read it, release it). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
