// `Expect: 100-continue` answered by tollgate itself, once the body is wanted: after auth, so a refused caller uploads nothing.
import type { IncomingMessage, ServerResponse } from 'node:http';

const OWED = Symbol('tollgate.continueOwed');

type WaitingRequest = IncomingMessage & { [OWED]?: ServerResponse };

/**
 * For node:http's 'checkContinue' event: the client waits for `100 Continue` before sending its body. It is owed,
 * not sent: `continueBody` sends it when the body is read. A request answered without reading it (401, 413 from the
 * declared length, 404) never gets it, and node closes that connection after the answer instead of waiting for a body.
 */
export function oweContinue(req: IncomingMessage, res: ServerResponse): void {
  (req as WaitingRequest)[OWED] = res;
}

/** Sends the owed `100 Continue`, once; nothing when the client did not ask for one. */
export function continueBody(req: IncomingMessage): void {
  const res = (req as WaitingRequest)[OWED];
  if (res === undefined) return;
  (req as WaitingRequest)[OWED] = undefined;
  if (!res.headersSent && !res.writableEnded) res.writeContinue();
}
