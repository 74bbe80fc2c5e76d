// Answers both ports write the same way: JSON and plain text, never sniffed as a page.
import type { ServerResponse } from 'node:http';

export function sendJson(res: ServerResponse, status: number, value: unknown, options: { indent?: number; headers?: Record<string, string> } = {}): void {
  const body = `${JSON.stringify(value, null, options.indent)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    // an error message can quote what the request held (an agent id, a path): never let a browser read it as a page
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...options.headers,
  });
  res.end(body);
}

/** Plain-text answer with a trailing newline, as Go's http.Error writes it. */
export function sendText(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = `${message}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}
