// Fail-fast per Redis server: once a command to one went unanswered for its whole timeout, one probe at a time, the rest refused.

/** What to do with a command for a server: send it, send it as the server's one probe, or refuse it unsent. */
export type SilenceVerdict = 'send' | 'probe' | 'refuse';

/**
 * The servers (a single Redis, or a Cluster's masters, by `host:port`) taken as stalled: one of their commands went
 * unanswered for its whole timeout, and none has answered since. While a server is stalled, one command at a time goes
 * out to it as the probe (it waits its timeout) and every other is refused unsent; any reply from it ends that.
 */
export class Silences {
  private readonly since = new Map<string, number>();
  private readonly probing = new Set<string>();

  /** The verdict for a command to `server` (null: unknown, always sent); a 'probe' must be ended by `settled`. */
  enter(server: string | null): SilenceVerdict {
    if (server === null || !this.since.has(server)) return 'send';
    if (this.probing.has(server)) return 'refuse';
    this.probing.add(server);
    return 'probe';
  }

  /** A command to `server` ended: it was answered (a reply, an error reply included), timed out, or failed otherwise. */
  settled(server: string | null, verdict: SilenceVerdict, end: 'answered' | 'timedOut' | 'failed'): void {
    if (server === null) return;
    if (verdict === 'probe') this.probing.delete(server);
    if (end === 'answered') this.since.delete(server);
    else if (end === 'timedOut' && !this.since.has(server)) this.since.set(server, Date.now());
  }

  /** How long `server` has been silent (ms), 0 when it is not. */
  silentFor(server: string): number {
    const since = this.since.get(server);
    return since === undefined ? 0 : Date.now() - since;
  }

  /** Forgets one server's silence (it left the Cluster), or every one (a fresh connection answered its handshake). */
  forget(server?: string): void {
    if (server === undefined) this.since.clear();
    else this.since.delete(server);
  }
}
