// Gives a call's bytes in flight back once its answer has left the process, and cuts a client that stops reading it:
// an answer written whole waits in the socket's buffer until the client reads it, and is memory all the same.
import type { ServerResponse } from 'node:http';
import type { ByteHold } from './bytes-in-flight.ts';

interface Drain {
  readonly res: ServerResponse;
  readonly hold: ByteHold;
  readonly stallMs: number;
  /** Bytes still queued on the socket at the last check. */
  queued: number;
  timer: NodeJS.Timeout | null;
}

const DRAIN = Symbol('tollgate.answerDrain');
type DrainingResponse = ServerResponse & { [DRAIN]?: Drain };

/**
 * Releases `hold` now if the answer has left (or the connection is gone), else once it has: on 'finish' or 'close'.
 * Meanwhile, a client that has read nothing of what is queued for `stallMs` (CLLAMA_STREAM_IDLE_TIMEOUT_MS, as for a
 * stream it stops reading) is cut, so an answer it never reads does not hold its bytes for good.
 */
export function releaseWhenSent(input: { res: ServerResponse; hold: ByteHold | undefined; stallMs: number }): void {
  const { hold } = input;
  if (!hold) return;
  const res = input.res as DrainingResponse;
  if (hold.held === 0 || res.writableFinished || res.destroyed) {
    hold.release();
    return;
  }
  const drain: Drain = { res, hold, stallMs: input.stallMs, queued: queuedBytes(res), timer: null };
  drain.timer = setTimeout(checkDrain, input.stallMs, drain);
  drain.timer.unref();
  res[DRAIN] = drain;
  res.on('finish', onSent);
  res.on('close', onSent);
}

function onSent(this: DrainingResponse): void {
  const drain = this[DRAIN];
  if (!drain) return;
  this[DRAIN] = undefined;
  this.off('finish', onSent);
  this.off('close', onSent);
  if (drain.timer) clearTimeout(drain.timer);
  drain.hold.release();
}

function checkDrain(drain: Drain): void {
  const queued = queuedBytes(drain.res);
  if (queued >= drain.queued) {
    drain.timer = null;
    drain.res.destroy(); // 'close' follows and releases the hold
    return;
  }
  drain.queued = queued;
  drain.timer = setTimeout(checkDrain, drain.stallMs, drain);
  drain.timer.unref();
}

/** Bytes written but not yet handed to the kernel (the response's own and its socket's). */
function queuedBytes(res: ServerResponse): number {
  return res.writableLength;
}
