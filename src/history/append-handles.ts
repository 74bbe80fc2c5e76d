// A bounded set of open append handles, one per key: the least recently used idle one is closed to make room.
import type { FileHandle } from 'node:fs/promises';

export interface AppendHandlesOptions {
  /** Most handles open at once (opening and closing ones count too). */
  readonly max: number;
  readonly now: () => number;
  /** A close that failed (the handle is gone either way). */
  readonly onCloseError: (error: unknown, key: string) => void;
}

interface Held {
  readonly handle: FileHandle;
  /** Taken for a batch of writes: never closed to make room until given back. */
  busy: boolean;
  lastUsed: number;
}

/**
 * Every open handle takes one of `max` slots. A key that needs a handle and finds every slot taken closes the least
 * recently used idle one, or, when all are busy, waits: the next handle given back is closed and its slot handed to the
 * longest waiter. One caller per key at a time (the writer's per-agent chain): `take` is never called twice for a key
 * without `done` or `close` between.
 */
export class AppendHandles {
  readonly #options: AppendHandlesOptions;
  /** Open handles in least recently used order (the Map's insertion order, refreshed on take). */
  readonly #held = new Map<string, Held>();
  /** Slots in use: handles open, being opened, or being closed. */
  #slots = 0;
  readonly #waiters: (() => void)[] = [];

  constructor(options: AppendHandlesOptions) {
    if (!(options.max >= 1)) throw new RangeError('history: at most open files must be >= 1');
    this.#options = options;
  }

  /** Handles open (or opening, or closing) now. */
  get openCount(): number {
    return this.#slots;
  }

  has(key: string): boolean {
    return this.#held.has(key);
  }

  /** The key's handle, opened with `open` (after waiting for a slot) when it has none; busy until `done` or `close`. */
  async take(key: string, open: () => Promise<FileHandle>): Promise<FileHandle> {
    const held = this.#held.get(key);
    if (held) {
      this.#held.delete(key);
      this.#held.set(key, held);
      held.busy = true;
      return held.handle;
    }
    await this.#slot();
    let handle: FileHandle;
    try {
      handle = await open();
    } catch (error) {
      this.#freeSlot();
      throw error;
    }
    this.#held.set(key, { handle, busy: true, lastUsed: this.#options.now() });
    return handle;
  }

  /** The key's handle is idle again: closed at once if someone waits for a slot, else kept for the next batch. */
  done(key: string): void {
    const held = this.#held.get(key);
    if (!held) return;
    held.busy = false;
    held.lastUsed = this.#options.now();
    if (this.#waiters.length > 0) void this.#close(key, held, false);
  }

  /** Closes the key's handle now (before a rotation, after a failed write). */
  async close(key: string): Promise<void> {
    const held = this.#held.get(key);
    if (held) await this.#close(key, held, false);
  }

  /** Closes every idle handle last used at or before `before`. */
  async closeIdle(before: number): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, held] of this.#held) {
      if (!held.busy && held.lastUsed <= before) closing.push(this.#close(key, held, false));
    }
    await Promise.all(closing);
  }

  /** Closes every handle (shutdown: no write is in flight). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#held].map(([key, held]) => this.#close(key, held, false)));
  }

  /** Takes a free slot, or the slot of the least recently used idle handle (closing it), or waits for one to be handed over. */
  async #slot(): Promise<void> {
    if (this.#slots < this.#options.max) {
      this.#slots += 1;
      return;
    }
    for (const [key, held] of this.#held) {
      if (!held.busy) return this.#close(key, held, true);
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Forgets the handle at once (so no one else picks it), closes it, then frees its slot or (`keepSlot`) keeps it for the caller. */
  async #close(key: string, held: Held, keepSlot: boolean): Promise<void> {
    this.#held.delete(key);
    try {
      await held.handle.close();
    } catch (error) {
      this.#options.onCloseError(error, key);
    }
    if (!keepSlot) this.#freeSlot();
  }

  /** A slot is free: handed straight to the longest waiter, if any. */
  #freeSlot(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#slots -= 1;
  }
}
