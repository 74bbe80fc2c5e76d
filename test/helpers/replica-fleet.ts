// Test helper: 3 tollgate processes sharing one Redis (a namespace of their own), each with its own history, and a webhook that collects alerts.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startProxyProcess, type RunningProxy } from './process.ts';
import { writeProcessRoot } from './process-root.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface ReplicaFleet {
  readonly replicas: readonly RunningProxy[];
  readonly root: string;
  /** What the replicas posted to the alert webhook, in arrival order. */
  readonly alerts: Record<string, unknown>[];
  /** Every history line's count and cost, over the replicas' history directories. */
  historyCost(): { entries: number; micros: number };
  /** Stops the replicas, deletes the fleet's Redis keys and its files. */
  close(): Promise<void>;
}

/** One agent (`metadata`, its token `<agent>:s`) served by 3 replicas on Redis, fail mode closed. */
export async function startReplicaFleet(input: { name: string; agent: string; upstreamUrl: string; metadata: Record<string, unknown> }): Promise<ReplicaFleet> {
  const alerts: Record<string, unknown>[] = [];
  const webhook = await startWebhook(alerts);
  const { root } = writeProcessRoot({ name: input.name, upstreamUrl: input.upstreamUrl, agentId: input.agent, metadata: input.metadata });
  const replicas: RunningProxy[] = [];
  for (let i = 0; i < 3; i++) {
    replicas.push(
      await startProxyProcess({
        port: await freePort(),
        env: {
          CLAW_CONTEXT_ROOT: join(root, 'context'),
          CLAW_AUTH_DIR: join(root, 'auth'),
          CLAW_SESSION_HISTORY_DIR: join(root, `history-${i}`),
          TOLLGATE_LEDGER: 'redis',
          REDIS_URL,
          // a namespace of its own: never meets keys another run (or an older layout) left in the shared Redis
          TOLLGATE_REDIS_PREFIX: `test-${input.agent}`,
          // closed: a ledger that cannot answer must show up as 503s, never as silently admitted calls
          CLLAMA_BUDGET_FAIL_MODE: 'closed',
          TOLLGATE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/alerts`,
        },
      }),
    );
  }
  return {
    replicas,
    root,
    alerts,
    historyCost: () => historyCost(root, input.agent),
    close: async () => {
      await Promise.all(replicas.map((replica) => replica.stop()));
      const client = new Redis(REDIS_URL);
      const keys = await client.keys(`{test-${input.agent}}:*`);
      if (keys.length > 0) await client.del(...keys);
      await client.quit();
      webhook.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

async function startWebhook(alerts: Record<string, unknown>[]): Promise<Server> {
  const webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      alerts.push(JSON.parse(body) as Record<string, unknown>);
      res.end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  return webhook;
}

function historyCost(root: string, agent: string): { entries: number; micros: number } {
  let entries = 0;
  let micros = 0;
  for (const dir of readdirSync(root).filter((name) => name.startsWith('history-'))) {
    const file = join(root, dir, agent, 'history.jsonl');
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
      entries++;
      micros += Number(JSON.parse(line).usage.cost_micros);
    }
  }
  return { entries, micros };
}
