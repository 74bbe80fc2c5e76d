// The dashboard hook on the UI port (stub until the dashboard lands): serves a page or asset, or returns false.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Called by the UI server for every path that is not an API route, after the caller is authorised. */
export function dashboardRoute(_req: IncomingMessage, _res: ServerResponse, _path: string): boolean | Promise<boolean> {
  return false;
}
