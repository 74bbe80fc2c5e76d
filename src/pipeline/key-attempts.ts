// One candidate's call through its provider's key pool: a key per attempt, the next after a 401/402/403/429 (at most 5).
import { ProxyError } from '../errors.ts';
import type { KeyPools } from '../keys/key-pools.ts';
import type { PoolKey } from '../keys/pool.ts';
import { judgesKey, VERDICT_BODY_BYTES } from '../keys/rate-signals.ts';
import type { CallCancel, UpstreamResponse } from '../upstream/client.ts';
import type { UpstreamBody } from '../upstream/upstream-body.ts';
import type { Provider, ProviderKey } from '../upstream/provider.ts';

/** cllama: at most 5 key attempts per candidate. */
export const MAX_KEY_ATTEMPTS = 5;
/** A refused answer's body is read this far (its first VERDICT_BODY_BYTES judged), then the call is dropped. */
const REFUSAL_READ_BYTES = 64 * 1024;

export interface KeyAttemptsInput {
  readonly pools: KeyPools;
  readonly provider: Provider;
  readonly requestId: string;
  readonly cancel: CallCancel;
  /** Sends the call with this key's credential (null: a provider without keys, auth `none`). */
  readonly send: (key: ProviderKey | null) => Promise<UpstreamResponse>;
  /**
   * Looks at an answer the pool does not judge; true: the call was changed and is sent again within the key loop (the
   * key not condemned; cllama's auto-retry through the Responses adapter). Must say true at most once.
   */
  readonly resend?: (upstream: UpstreamResponse) => Promise<boolean>;
}

/**
 * Sends with the pool's key; an answer that condemns the key (401/402/403, quota 429: dead; 429: cooling) is read (never
 * relayed), the key marked, and the next key tried. Every usable key cooling: 503 `provider_keys_cooling` with the exact
 * time until the first is back; none usable: 502 `provider_keys_unusable`. Any other answer, and transport failures,
 * are the caller's (the candidate loop may fail over on them).
 */
export async function sendWithKeys(input: KeyAttemptsInput): Promise<{ upstream: UpstreamResponse; key: PoolKey | null }> {
  const { pools, provider } = input;
  const pool = provider.auth === 'none' ? undefined : pools.get(provider.name);
  if (!pool) {
    const upstream = await input.send(null);
    if (!(await input.resend?.(upstream))) return { upstream, key: null };
    input.cancel.requestSent = false;
    return { upstream: await input.send(null), key: null };
  }
  const tried = new Set<string>();
  for (let attempt = 0; attempt < MAX_KEY_ATTEMPTS; attempt++) {
    const choice = pools.select(provider.name, tried);
    if (choice.kind !== 'key') break;
    const { key } = choice;
    tried.add(key.id);
    input.cancel.requestSent = false; // a refused attempt's request does not make the next one "sent"
    const upstream = await input.send(key);
    if (!judgesKey(upstream.statusCode)) {
      if (await input.resend?.(upstream)) {
        tried.delete(key.id); // the key was not at fault: it may be chosen again
        continue;
      }
      pools.noteSent({ pool, key, requestId: input.requestId });
      pools.noteHeadroom(key, upstream.headers);
      return { upstream, key };
    }
    const bodyHead = await readHead(upstream.body);
    await pools.judge({ pool, key, status: upstream.statusCode, headers: upstream.headers, bodyHead });
  }
  throw noKeyLeft(pools, provider.name);
}

function noKeyLeft(pools: KeyPools, provider: string): ProxyError {
  const backInMs = pools.firstBackInMs(provider);
  if (backInMs === null) return new ProxyError('provider_keys_unusable', { message: `no usable declared provider key after retries (provider "${provider}")` });
  return new ProxyError('provider_keys_cooling', {
    headers: { 'retry-after': String(Math.ceil(backInMs / 1000)), 'retry-after-ms': String(backInMs) },
  });
}

/** The first bytes of a refused answer (to tell quota exhaustion from a rate limit); the rest is dropped. */
async function readHead(body: UpstreamBody): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= REFUSAL_READ_BYTES) break;
    }
  } catch {
    // a refusal cut part-way still condemns the key by its status
  }
  return Buffer.concat(chunks).subarray(0, VERDICT_BODY_BYTES).toString('utf8');
}
