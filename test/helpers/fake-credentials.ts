// The fake upstream per credential: which key a call carries (Bearer token or x-api-key).
import type { IncomingHttpHeaders } from 'node:http';

/** The credential a call carries: the Bearer token, else x-api-key ('' for none). */
export function credentialOf(headers: IncomingHttpHeaders): string {
  const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? '');
  if (bearer) return bearer[1];
  const key = headers['x-api-key'];
  return typeof key === 'string' ? key : '';
}
