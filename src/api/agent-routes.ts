// The agent routes that are no metered model call: GET /v1/models and POST /v1/messages/count_tokens (docs/routes.md).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { ProxyError } from '../errors.ts';
import { jsonDeeperThan } from '../protocol/json-depth.ts';
import { chat, messages } from '../protocol/index.ts';
import { isRecord, tokenCount } from '../protocol/usage-fields.ts';
import { releaseWhenSent } from '../transport/answer-drain.ts';
import { limitBodyTime, parseJsonObject, readBody } from '../transport/body.ts';
import type { ByteHold } from '../transport/bytes-in-flight.ts';
import { renderError, toProxyError } from '../transport/render-error.ts';
import type { ExtraRoute } from './server.ts';
import { CallCancel, upstreamError } from '../upstream/client.ts';
import { downstreamResponseHeaders, upstreamRequestHeaders } from '../upstream/headers.ts';
import { sendWithKeys } from '../pipeline/key-attempts.ts';
import { keysToMask, maskKeysInText, maskProviderKeys } from '../upstream/key-mask.ts';
import { MESSAGES_PATH, resolveRoute } from '../upstream/routing.ts';
import { authenticate } from '../pipeline/authenticate.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import type { ModelCatalog } from './model-catalog.ts';

const MODELS_PATH = '/v1/models';
const COUNT_TOKENS_PATH = '/v1/messages/count_tokens';

/** GET /v1/models and POST /v1/messages/count_tokens, on the API port, with the agent's token. */
export function agentRoutes(input: { deps: PipelineDeps; catalog: ModelCatalog }): ExtraRoute {
  return (req, res, path) => {
    if (path === MODELS_PATH) return listModels({ ...input, req, res }).then(() => true);
    if (path === COUNT_TOKENS_PATH) return countTokens({ deps: input.deps, req, res }).then(() => true);
    return false;
  };
}

/**
 * The models the agent may call, as it sends them (`provider/model`): OpenAI's list, or Anthropic's when the request
 * carries `anthropic-version` (what the Anthropic SDK sends). Never billed, nothing forwarded on the agent's behalf.
 */
async function listModels(input: { deps: PipelineDeps; catalog: ModelCatalog; req: IncomingMessage; res: ServerResponse }): Promise<void> {
  const { req, res } = input;
  const anthropic = req.headers['anthropic-version'] !== undefined;
  const protocol = anthropic ? messages : chat;
  req.resume();
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw new ProxyError('method_not_allowed', { message: `${req.method} not allowed on ${MODELS_PATH}; use GET` });
    const agent = authenticate(req, input.deps.agents);
    const ids = await input.catalog.modelsFor(agent);
    const body = anthropic
      ? {
          data: ids.map((id) => ({ type: 'model', id, display_name: id, created_at: '1970-01-01T00:00:00Z' })),
          has_more: false,
          first_id: ids[0] ?? null,
          last_id: ids.at(-1) ?? null,
        }
      : { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: id.slice(0, id.indexOf('/')) })) };
    const payload = JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    res.end(req.method === 'HEAD' ? undefined : payload);
  } catch (error) {
    const proxyError = toProxyError(error);
    renderError({ res, error: proxyError, protocol, requestId: '-', headers: proxyError.code === 'method_not_allowed' ? { allow: 'GET, HEAD' } : undefined });
  }
}

/**
 * Forwarded to the Anthropic provider with its credential and answered as it answers: never billed, never counted
 * against a request limit (it generates nothing), and recorded in the audit log as a `token_count` event.
 */
async function countTokens(input: { deps: PipelineDeps; req: IncomingMessage; res: ServerResponse }): Promise<void> {
  const { deps, req, res } = input;
  const startedAt = Date.now();
  const requestId = randomUUID();
  let hold: ByteHold | undefined;
  deps.inFlight.started();
  limitBodyTime(req, deps.config.intake.bodyTimeoutMs);
  try {
    if (req.method !== 'POST') {
      req.resume();
      throw new ProxyError('method_not_allowed', { message: `${req.method} not allowed on ${COUNT_TOKENS_PATH}; use POST` });
    }
    const agent = authenticate(req, deps.agents);
    hold = deps.bytesInFlight.hold(agent.id);
    const text = (await readBody(req, { maxBytes: deps.config.maxBodyBytes, hold })).toString('utf8');
    if (jsonDeeperThan(text, deps.config.maxJsonDepth)) throw new ProxyError('body_too_deep');
    const body = parseJsonObject(text);
    const url = req.url ?? COUNT_TOKENS_PATH;
    const query = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
    const route = resolveRoute({ path: MESSAGES_PATH, query: '', model: body.model, registry: deps.providers });
    const sent = Buffer.from(JSON.stringify({ ...body, model: route.upstreamModel }));
    const keys = keysToMask(route.provider);
    const cancel = new CallCancel();
    const timer = setTimeout(
      () => cancel.abort(new ProxyError('upstream_timeout', { message: `upstream did not answer within ${deps.config.timeouts.dispatchMs} ms` })),
      deps.config.timeouts.dispatchMs,
    );
    try {
      // the key the provider's pool picks; a refused key is judged (cooled, condemned) and the next tried, as on a call
      const { upstream } = await sendWithKeys({
        pools: deps.keys,
        provider: route.provider,
        requestId,
        cancel,
        send: (key) =>
          deps.upstream.send({
            url: `${route.provider.baseUrl}/messages/count_tokens${query ? `?${query}` : ''}`,
            headers: upstreamRequestHeaders({ incoming: req.headers, provider: route.provider, bodyLength: sent.length, key }),
            body: sent,
            cancel,
            headersTimeoutMs: deps.config.timeouts.dispatchMs,
          }),
      });
      let raw: Buffer;
      try {
        raw = maskProviderKeys(await upstream.body.bytes({ maxBytes: deps.config.maxResponseBytes, hold }), keys);
      } catch (error) {
        throw upstreamError(error, cancel);
      }
      const headers = downstreamResponseHeaders({ upstream: upstream.headers, keepLength: false, keysToMask: keys });
      delete headers['content-encoding'];
      headers['content-length'] = raw.length;
      headers['x-tollgate-request-id'] = requestId;
      res.writeHead(upstream.statusCode, headers);
      res.end(raw);
      const counted = upstream.statusCode === 200 ? countIn(raw) : undefined;
      deps.bus.emit({
        type: 'token_count',
        claw_id: agent.id,
        model: route.requestedModel,
        intervention: null,
        request_id: requestId,
        path: COUNT_TOKENS_PATH,
        provider: route.provider.name,
        upstream_model: route.upstreamModel,
        stream: false,
        status_code: upstream.statusCode,
        latency_ms: Date.now() - startedAt,
        ...(counted === undefined ? {} : { input_tokens: counted }),
      });
    } catch (error) {
      if (error instanceof ProxyError) error.message = maskKeysInText(error.message, keys);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  } catch (error) {
    renderError({ res, error: toProxyError(error), protocol: messages, requestId, headers: req.method === 'POST' ? undefined : { allow: 'POST' } });
  } finally {
    releaseWhenSent({ res, hold, stallMs: deps.config.timeouts.idleMs });
    deps.inFlight.ended();
  }
}

function countIn(raw: Buffer): number | undefined {
  try {
    const parsed: unknown = JSON.parse(raw.toString('utf8'));
    return isRecord(parsed) ? tokenCount(parsed.input_tokens) : undefined;
  } catch {
    return undefined;
  }
}
