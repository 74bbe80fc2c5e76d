// The floor for a governing Node proxy: the bare relay plus the least any governed call must do; prints its URL on stdout.
//   node bin/run-ts.js bench/floor-governed.ts <upstream url> <history file>
// Per call, written as lean as it can be and nothing more: the agent's token checked in constant time, the body parsed
// (model, max_tokens), a reservation against one window's USD and request counters, the upstream called through
// undici, the answer's usage read (JSON: parsed; SSE: its usage event), the charge settled, one history line
// (request and answer) written with write(2), one audit line batched per turn (to /dev/null). No failover, no key pools,
// no policies, no loop breaker, no metrics, no journal: what tollgate does beyond this is its features' price.
import { timingSafeEqual } from 'node:crypto';
import { openSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import { callUpstream, serveOnLoopback } from './floor-relay.ts';

const historyFd = openSync(process.argv[3] ?? '/dev/null', 'a');
const auditFd = openSync('/dev/null', 'a'); // stdout carries the URL; the audit's write(2) per turn is what counts
const secret = Buffer.from('secret');
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

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const agentId = authorized(req.headers.authorization);
    if (agentId === null) return void res.writeHead(401).end();
    const raw = Buffer.concat(chunks);
    const body = JSON.parse(raw.toString()) as { model: string; stream?: boolean; max_tokens?: number };
    if (window.usdMicros + window.reservedMicros + RESERVE_MICROS > window.limitMicros || window.requests >= window.maxRequests) {
      return void res.writeHead(429).end();
    }
    window.reservedMicros += RESERVE_MICROS;
    const started = Date.now();
    callUpstream(req.url, raw)
      .then(async (response) => {
        res.writeHead(response.statusCode, { 'content-type': String(response.headers['content-type'] ?? 'application/json') });
        const answer: Buffer[] = [];
        for await (const chunk of response.body) {
          answer.push(chunk);
          if (body.stream === true) res.write(chunk);
        }
        const text = Buffer.concat(answer).toString();
        const usage = usageOf(text, body.stream === true);
        const costMicros = usage ? usage.prompt_tokens * 3 + usage.completion_tokens * 10 : RESERVE_MICROS;
        window.reservedMicros -= RESERVE_MICROS;
        window.usdMicros += costMicros;
        window.requests += 1;
        writeSync(
          historyFd,
          `${JSON.stringify({ ts: new Date(started).toISOString(), claw_id: agentId, model: body.model, request: body, response: text, usage, cost_micros: costMicros })}\n`,
        );
        if (audit === '') setImmediate(writeAudit);
        audit += `${JSON.stringify({ ts: new Date().toISOString(), type: 'response', claw_id: agentId, model: body.model, status_code: response.statusCode, latency_ms: Date.now() - started, cost_micros: costMicros })}\n`;
        res.end(body.stream === true ? undefined : text);
      })
      .catch(() => {
        window.reservedMicros -= RESERVE_MICROS;
        res.writeHead(502).end();
      });
  });
});
serveOnLoopback(server);
