// The request path, top to bottom: auth → body → route → admit → dispatch+relay → settle, record, observe.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { parseAgentCredentials } from '../auth/token.ts';
import { headerValue } from '../transport/header-value.ts';
import { ProxyError } from '../errors.ts';
import { BodyEstimate } from '../budget/estimate.ts';
import { prepareAnthropicRequest } from '../protocol/anthropic/request.ts';
import { readCallParams } from '../protocol/call-params.ts';
import { setOutputCap } from '../protocol/output-cap.ts';
import { prepareOpenAIRequest } from '../protocol/openai/request.ts';
import { jsonDeeperThan } from '../protocol/json-depth.ts';
import { limitBodyTime, parseJsonObject, readBody } from '../transport/body.ts';
import { releaseWhenSent } from '../transport/answer-drain.ts';
import { renderError, toProxyError } from '../transport/render-error.ts';
import type { WireFormat } from '../upstream/provider.ts';
import { resolveRoute } from '../upstream/routing.ts';
import type { RequestContext } from './context.ts';
import type { PipelineDeps } from './deps.ts';
import { dispatchAndRelay } from './dispatch.ts';
import { addChargeFields } from './finish.ts';
import type { ErrorEvent } from '../observability/events.ts';

export async function handleModelCall(input: { req: IncomingMessage; res: ServerResponse; dialect: WireFormat; deps: PipelineDeps }): Promise<void> {
  const { req, res, dialect, deps } = input;
  deps.inFlight.started(); // ended in the finally below, once the call is charged, recorded and observed
  limitBodyTime(req, deps.config.intake.bodyTimeoutMs); // before auth: a refused caller's unread body is bounded too
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const ctx: RequestContext = {
    id: randomUUID(),
    startedAt: Date.now(),
    dialect,
    path: queryAt < 0 ? url : url.slice(0, queryAt),
    query: queryAt < 0 ? '' : url.slice(queryAt + 1),
    stream: false,
    clientWantsUsage: false,
    interventions: [],
    usage: null,
  };
  try {
    ctx.agent = authenticate(req, deps); // before a byte of the body is read or held: unknown callers hold nothing
    ctx.bytes = deps.bytesInFlight.hold(ctx.agent.id);
    ctx.bodyText = (await readBody(req, { maxBytes: deps.config.maxBodyBytes, hold: ctx.bytes })).toString('utf8');
    // bounded before JSON.parse builds it: nothing downstream (serialising it upstream, history readers) recurses deep
    if (jsonDeeperThan(ctx.bodyText, deps.config.maxJsonDepth)) throw tooDeep(deps.config.maxJsonDepth);
    ctx.body = parseJsonObject(ctx.bodyText);
    const params = readCallParams(ctx.body, dialect);
    const route = resolveRoute({ path: ctx.path, query: ctx.query, model: ctx.body.model, registry: deps.providers });
    ctx.route = route;
    ctx.admission = await deps.budget.admit({
      requestId: ctx.id,
      agent: ctx.agent,
      provider: route.provider.name,
      model: route.upstreamModel,
      requestedModel: route.requestedModel,
      estimate: new BodyEstimate({ body: ctx.body, dialect, params }),
      path: ctx.path,
    });
    if (ctx.admission.error) throw ctx.admission.error;
    if (ctx.admission.downgradeTo) {
      ctx.route = resolveRoute({ path: ctx.path, query: ctx.query, model: ctx.admission.downgradeTo, registry: deps.providers });
      ctx.interventions.push('model_downgraded');
    }
    const upstreamModel = ctx.route.upstreamModel;
    const prepared = dialect === 'openai' ? prepareOpenAIRequest(ctx.body, upstreamModel) : prepareAnthropicRequest(ctx.body, upstreamModel);
    ctx.upstreamBody = prepared.upstreamBody;
    const outputCap = ctx.admission.outputCap;
    if (outputCap != null) {
      // the client set no cap: the one reserved goes upstream, so the reservation bounds what the answer costs
      setOutputCap({ body: ctx.upstreamBody, dialect, provider: ctx.route.provider.name, cap: outputCap });
      ctx.interventions.push('output_capped');
    }
    ctx.stream = prepared.stream;
    ctx.clientWantsUsage = prepared.clientWantsUsage;
    await dispatchAndRelay({ req, res, ctx, deps });
  } catch (thrown) {
    const error = toProxyError(thrown);
    const ticket = ctx.admission?.ticket;
    if (ticket && !ticket.done) await ticket.release().catch(() => undefined); // a call cut after dispatch is settled
    renderError({ res, error, dialect, requestId: ctx.id, headers: ctx.admission?.headers });
    if (!isBudgetBlock(error)) deps.bus.emit(errorEvent(ctx, error));
  } finally {
    // held until the answer has left the process: one written whole waits on the socket until the client reads it
    releaseWhenSent({ res, hold: ctx.bytes, stallMs: deps.config.timeouts.idleMs });
    deps.inFlight.ended();
  }
}

/** The `error` event of a call that failed; one cut after upstream had its request also carries what it was charged. */
function errorEvent(ctx: RequestContext, error: ProxyError): ErrorEvent {
  const event: ErrorEvent = {
    type: 'error',
    claw_id: ctx.agent?.id ?? null,
    model: typeof ctx.body?.model === 'string' ? ctx.body.model : null,
    intervention: null,
    request_id: ctx.id,
    path: ctx.path,
    status_code: error.status,
    latency_ms: Date.now() - ctx.startedAt,
    error: error.message,
    code: error.code,
  };
  if (ctx.usage && ctx.route) {
    event.provider = ctx.route.provider.name;
    event.upstream_model = ctx.route.upstreamModel;
    addChargeFields(event, ctx);
  }
  return event;
}

function authenticate(req: IncomingMessage, deps: PipelineDeps) {
  const credentials = parseAgentCredentials({
    authorization: req.headers.authorization,
    xApiKey: headerValue(req.headers['x-api-key']),
  });
  if (!credentials) throw new ProxyError('auth_missing');
  const agent = deps.agents.authenticate(credentials);
  // cllama's two messages: the agent is unknown, or its secret is wrong (GET /history tells them apart too)
  if (!agent) throw new ProxyError('auth_invalid', { message: deps.agents.get(credentials.agentId) ? 'invalid agent secret' : 'agent context not found' });
  return agent;
}

function tooDeep(maxDepth: number): ProxyError {
  return new ProxyError('body_too_deep', { message: `request body nested too deeply: objects and arrays deeper than ${maxDepth} levels are refused (TOLLGATE_MAX_JSON_DEPTH)` });
}

/** Budget blocks are reported by the engine as interventions; they are not errors of the proxy. */
function isBudgetBlock(error: ProxyError): boolean {
  return error.code === 'budget_exceeded' || error.code === 'rate_limited' || error.code === 'unknown_cost_blocked';
}
