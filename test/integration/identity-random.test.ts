// Identity under a careless world: the context directory rewritten under traffic (seeded churn), files that stop being good versions.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentRegistry } from '../../src/auth/registry.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { seededRandom } from '../helpers/random.ts';
import { waitFor } from '../helpers/wait.ts';
import { authError, call, CHAT, eventOf, MESSAGES, pick, SEED, sleep, within } from './identity-setup.ts';

describe(`identity: the context directory rewritten under traffic (seed ${SEED})`, () => {
  const ids = ['a0', 'a1', 'a2', 'a3'];
  let h: Harness;
  before(async () => {
    h = await startHarness({
      agents: Object.fromEntries(ids.map((id) => [id, { token: `${id}:v0-${id}` }])),
      env: { TOLLGATE_DEFAULT_MAX_OUTPUT_TOKENS: '10' },
    });
  });
  after(() => h.close());

  const dirOf = (id: string) => join(h.root, 'context', id);
  const metadataOf = (id: string) => join(dirOf(id), 'metadata.json');
  const write = (id: string, token: string) => {
    mkdirSync(dirOf(id), { recursive: true });
    const temp = join(dirOf(id), `.metadata.json.${process.pid}`);
    writeFileSync(temp, JSON.stringify({ token, pod: 'p', budget: { limit_usd: 100, window: '1h' } }));
    renameSync(temp, metadataOf(id));
  };
  const reload = () => within((h.tollgate.deps.agents as AgentRegistry).reload(), 'registry reload');

  it('authenticates every call against a whole good version, never as another agent, never 5xx', async () => {
    const random = seededRandom(SEED);
    /** Every secret that was the whole of a good version of the agent's file at some time. */
    const everGood = new Map(ids.map((id) => [id, new Set([`v0-${id}`])]));
    const current = new Map(ids.map((id) => [id, `v0-${id}`]));
    const deleted = new Set<string>();
    let version = 0;
    let writing = true;
    const failures: string[] = [];

    const writer = (async () => {
      for (let step = 0; step < 160; step++) {
        const id = pick(random, ids);
        const op = deleted.has(id)
          ? 'recreate'
          : pick(random, ['atomic', 'inplace', 'split', 'truncate', 'junk', 'invalid', 'foreign', 'delete', 'rename', 'empty-dir']);
        const secret = `v${++version}-${id}`;
        const good = () => {
          everGood.get(id)!.add(secret);
          current.set(id, secret);
        };
        switch (op) {
          case 'atomic':
          case 'recreate':
            good();
            write(id, `${id}:${secret}`);
            deleted.delete(id);
            break;
          case 'inplace':
            good();
            writeFileSync(metadataOf(id), JSON.stringify({ token: `${id}:${secret}` }));
            break;
          case 'split': {
            // truncated, then written in two pieces with a pause: readers see 0 bytes, then half a file
            good();
            const text = JSON.stringify({ token: `${id}:${secret}`, pod: 'p'.repeat(Math.floor(random() * 500)) });
            const cut = 1 + Math.floor(random() * (text.length - 2));
            writeFileSync(metadataOf(id), text.slice(0, cut));
            await sleep(Math.floor(random() * 4));
            writeFileSync(metadataOf(id), text);
            break;
          }
          case 'truncate':
            truncateSync(metadataOf(id), 0);
            break;
          case 'junk':
            writeFileSync(metadataOf(id), Buffer.from(Array.from({ length: 1 + Math.floor(random() * 300) }, () => Math.floor(random() * 256))));
            break;
          case 'invalid':
            writeFileSync(metadataOf(id), `{"token": "${id}:${secret}"`);
            break;
          case 'foreign': // a whole version that names another agent: nobody authenticates with it
            writeFileSync(
              metadataOf(id),
              JSON.stringify({
                token: `${pick(
                  random,
                  ids.filter((other) => other !== id),
                )}:${secret}`,
              }),
            );
            break;
          case 'delete':
            rmSync(dirOf(id), { recursive: true, force: true });
            deleted.add(id);
            break;
          case 'rename': // moved away and back: meanwhile `<id>-moved` holds a token naming <id>, which must not authenticate as either
            renameSync(dirOf(id), `${dirOf(id)}-moved`);
            await sleep(Math.floor(random() * 5));
            renameSync(`${dirOf(id)}-moved`, dirOf(id));
            break;
          case 'empty-dir': // deleted and re-created empty, then written
            rmSync(dirOf(id), { recursive: true, force: true });
            mkdirSync(dirOf(id));
            await sleep(Math.floor(random() * 3));
            good();
            writeFileSync(metadataOf(id), JSON.stringify({ token: `${id}:${secret}` }));
            break;
        }
        await sleep(Math.floor(random() * 6));
      }
      writing = false;
    })();

    const client = async (lane: number) => {
      const draw = seededRandom(SEED + lane);
      while (writing) {
        const id = pick(draw, ids);
        const other = pick(
          draw,
          ids.filter((x) => x !== id),
        );
        const kind = pick(draw, ['current', 'older', 'never', 'other', 'moved']);
        const goods = [...everGood.get(id)!];
        const [agentId, secret] =
          kind === 'current'
            ? [id, current.get(id)!]
            : kind === 'older'
              ? [id, pick(draw, goods)]
              : kind === 'never'
                ? [id, `never-${Math.floor(draw() * 1e9)}`]
                : kind === 'other'
                  ? [id, pick(draw, [...everGood.get(other)!])]
                  : [`${id}-moved`, pick(draw, goods)];
        const path = draw() < 0.5 ? CHAT : MESSAGES;
        const answer = await call({
          url: h.url,
          path,
          headers: draw() < 0.5 ? { authorization: `Bearer ${agentId}:${secret}` } : { 'x-api-key': `${agentId}:${secret}` },
        });
        const label = `${kind} ${agentId}:${secret} on ${path}`;
        if (answer.status === 200) {
          if (!everGood.get(agentId)?.has(secret)) failures.push(`${label}: 200 for a secret that was never a good version of the agent`);
          await waitFor(() => eventOf(h, answer) !== undefined, 'the audit event of the call');
          const event = eventOf(h, answer)!;
          if (event.claw_id !== agentId) failures.push(`${label}: authenticated as ${String(event.claw_id)}`);
        } else if (answer.status === 401) {
          const code = authError(answer, path);
          if (code !== 'auth_invalid') failures.push(`${label}: 401 ${code}`);
        } else {
          failures.push(`${label}: status ${answer.status} ${answer.text.slice(0, 200)}`);
        }
      }
    };
    await within(Promise.all([writer, client(1), client(2), client(3)]), 'churn');
    assert.deepEqual(failures, []);

    // settled: every agent still there gets a final whole version (one in five naming another agent, so nobody
    // authenticates with it), and the registry converges on it
    const usable = new Set<string>();
    for (const id of ids) {
      if (deleted.has(id)) continue;
      const secret = `final-${id}`;
      everGood.get(id)!.add(secret);
      if (random() < 0.8) {
        write(id, `${id}:${secret}`);
        usable.add(id);
      } else
        write(
          id,
          `${pick(
            random,
            ids.filter((other) => other !== id),
          )}:${secret}`,
        );
    }
    await reload();
    for (const id of ids) {
      for (const secret of everGood.get(id)!) {
        const path = random() < 0.5 ? CHAT : MESSAGES;
        const answer = await call({ url: h.url, path, headers: { authorization: `Bearer ${id}:${secret}` } });
        const expected = usable.has(id) && secret === `final-${id}` ? 200 : 401;
        assert.equal(answer.status, expected, `${id}:${secret} after the churn (deleted: ${deleted.has(id)}): ${answer.text.slice(0, 200)}`);
      }
    }
  });

  it('keeps the last good version of a file that stops being one (truncated, junk, half-written, oversized, a FIFO, a device, a loop), and forgets a deleted agent', async () => {
    const random = seededRandom(SEED + 7);
    const id = 'a0';
    const breakers: Record<string, () => void> = {
      truncated: () => truncateSync(metadataOf(id), 0),
      junk: () => writeFileSync(metadataOf(id), Buffer.from([0xff, 0x00, 0x7b, 0x22, 0xc3])),
      half: () => writeFileSync(metadataOf(id), JSON.stringify({ token: `${id}:half` }).slice(0, 9)),
      // a whole, valid file naming a new secret, but too large to be read: refused, not loaded
      oversized: () => writeFileSync(metadataOf(id), JSON.stringify({ token: `${id}:oversized`, pad: 'x'.repeat(2 * 1024 * 1024) })),
      fifo: () => {
        rmSync(metadataOf(id));
        execFileSync('mkfifo', [metadataOf(id)]);
      },
      device: () => {
        rmSync(metadataOf(id));
        symlinkSync('/dev/null', metadataOf(id));
      },
      loop: () => {
        rmSync(metadataOf(id));
        symlinkSync(metadataOf(id), metadataOf(id));
      },
      directory: () => {
        rmSync(metadataOf(id));
        mkdirSync(metadataOf(id));
      },
    };
    const names = Object.keys(breakers).sort(() => random() - 0.5);
    for (const name of names) {
      const secret = `good-before-${name}`;
      rmSync(dirOf(id), { recursive: true, force: true });
      write(id, `${id}:${secret}`);
      await reload();
      assert.equal((await call({ url: h.url, path: CHAT, headers: { authorization: `Bearer ${id}:${secret}` } })).status, 200, `${name}: the good version`);
      breakers[name]();
      await reload();
      for (const path of [CHAT, MESSAGES]) {
        const answer = await call({ url: h.url, path, headers: { authorization: `Bearer ${id}:${secret}` } });
        assert.equal(answer.status, 200, `${name}: the last good version stays in force: ${answer.text.slice(0, 300)}`);
        const refused = await call({ url: h.url, path, headers: { authorization: `Bearer ${id}:oversized` } });
        assert.equal(refused.status, 401, `${name}: nothing but the last good version authenticates`);
      }
      // and another agent keeps changing meanwhile: the scan is not stuck on this one
      const fresh = `fresh-${name}`;
      write('a1', `a1:${fresh}`);
      await reload();
      assert.equal(
        (await call({ url: h.url, path: CHAT, headers: { authorization: `Bearer a1:${fresh}` } })).status,
        200,
        `${name}: other agents still reload`,
      );
    }
    rmSync(metadataOf(id), { recursive: true, force: true });
    await reload();
    const gone = await call({ url: h.url, path: MESSAGES, headers: { 'x-api-key': `${id}:good-before-${names.at(-1)}` } });
    assert.equal(gone.status, 401, 'a deleted metadata.json stops the agent authenticating');
    assert.equal(authError(gone, MESSAGES), 'auth_invalid');
  });
});
