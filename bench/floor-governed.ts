// The floor for a governing Node proxy: the bare relay plus the least any governed call must do; prints its URL on stdout.
//   node bin/run-ts.js bench/floor-governed.ts <upstream url> <history file>
// Per call, written as lean as it can be and nothing more: the agent's token checked in constant time, the body parsed
// (model, max_tokens), a reservation against one window's USD and request counters, the upstream called through
// undici, the answer's usage read (JSON: parsed; SSE: its usage event), the charge settled, one history line
// (request and answer) written with write(2), one audit line batched per turn (to /dev/null). No failover, no key pools,
// no policies, no loop breaker, no metrics, no journal: what tollgate does beyond this is its features' price.
// FLOOR_ADD=ledger,events,loop,history puts tollgate's own parts in (bench/floor-rungs.ts), to price each alone.
import { timingSafeEqual } from 'node:crypto';
import { openSync, writeSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { callUpstream, serveOnLoopback } from './floor-relay.ts';
import { type FloorCall, floorParts } from './floor-rungs.ts';

const historyFd = openSync(process.argv[3] ?? '/dev/null', 'a');
const auditFd = openSync('/dev/null', 'a'); // stdout carries the URL; the audit's write(2) per turn is what counts
const secret = Buffer.from('secret');
const parts = floorParts(process.env.FLOOR_ADD);
const window = { usdMicros: 0, reservedMicros: 0, requests: 0, limitMicros: 1_000_000_000_000, maxRequests: 1_000_000_000 };
const RESERVE_MICROS = 2_000;

let audit = '';
const writeAudit = (): void => {
  const text = audit;
  audit = '';
  writeSync(auditFd, text);
};

function authorized(header: string | undefined): string | null {
  const token = header?.startsWith('Bearer ') ? header.slice(7) : '';
  const colon = token.indexOf(':');
  const given = Buffer.from(token.slice(colon + 1));
  return colon > 0 && given.length === secret.length && timingSafeEqual(given, secret) ? token.slice(0, colon) : null;
}

/** The usage of a JSON answer or of an SSE stream's last event that carries one. */
function usageOf(text: string, stream: boolean): { prompt_tokens: number; completion_tokens: number } | null {
  if (!stream) return (JSON.parse(text) as { usage?: { prompt_tokens: number; completion_tokens: number } }).usage ?? null;
  const at = text.lastIndexOf('"usage":{');
  if (at < 0) return null;
  const start = text.lastIndexOf('data: ', at) + 6;
  return (JSON.parse(text.slice(start, text.indexOf('\n', at))) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
}

/** The call after its body: held, relayed, metered, settled, recorded; tollgate's parts stand in where FLOOR_ADD names them. */
async function govern(req: IncomingMessage, res: ServerResponse, agentId: string, raw: Buffer): Promise<void> {
  const bodyText = raw.toString();
  const body = JSON.parse(bodyText) as { model: string; stream?: boolean; max_tokens?: number };
  const call: FloorCall = { agentId, model: body.model, path: req.url ?? '/', bodyText, body, stream: body.stream === true, startedAt: Date.now() };
  const held = await parts.reserve(call, RESERVE_MICROS);
  if (!parts.names.has('ledger')) {
    if (window.usdMicros + window.reservedMicros + RESERVE_MICROS > window.limitMicros || window.requests >= window.maxRequests) {
      return void res.writeHead(429).end();
    }
    window.reservedMicros += RESERVE_MICROS;
  } else if (held === null) return void res.writeHead(429).end();
  const id = held ?? '';
  parts.decided(call, id);
  const response = await callUpstream(req.url, raw);
  res.writeHead(response.statusCode, { 'content-type': String(response.headers['content-type'] ?? 'application/json') });
  const answer: Buffer[] = [];
  for await (const chunk of response.body) {
    answer.push(chunk);
    if (call.stream) res.write(chunk);
  }
  const text = Buffer.concat(answer).toString();
  const usage = usageOf(text, call.stream);
  const costMicros = usage ? usage.prompt_tokens * 3 + usage.completion_tokens * 10 : RESERVE_MICROS;
  if (held !== null) await parts.settle(held, costMicros);
  else {
    window.reservedMicros -= RESERVE_MICROS;
    window.usdMicros += costMicros;
    window.requests += 1;
  }
  const tokens = { tokensIn: usage?.prompt_tokens ?? 0, tokensOut: usage?.completion_tokens ?? 0 };
  const line =
    parts.historyLine(call, { status: response.statusCode, answer: text, costMicros, ...tokens }) ??
    JSON.stringify({
      ts: new Date(call.startedAt).toISOString(),
      claw_id: agentId,
      model: body.model,
      request: body,
      response: text,
      usage,
      cost_micros: costMicros,
    });
  writeSync(historyFd, `${line}\n`);
  if (parts.names.has('events')) parts.answered(call, { id, status: response.statusCode, costMicros, ...tokens });
  else {
    if (audit === '') setImmediate(writeAudit);
    audit += `${JSON.stringify({ ts: new Date().toISOString(), type: 'response', claw_id: agentId, model: body.model, status_code: response.statusCode, latency_ms: Date.now() - call.startedAt, cost_micros: costMicros })}\n`;
  }
  res.end(call.stream ? undefined : text);
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const agentId = authorized(req.headers.authorization);
    if (agentId === null) return void res.writeHead(401).end();
    govern(req, res, agentId, Buffer.concat(chunks)).catch(() => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
});
serveOnLoopback(server);
