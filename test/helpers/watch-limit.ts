// fs.watch as the system behaves when inotify watches run out: real watches up to a limit, then ENOSPC, counting every call.
import { watch, type FSWatcher } from 'node:fs';

export interface LimitedWatch {
  (path: string, options: { persistent: boolean }, listener: (event: string, name: string | Buffer | null) => void): FSWatcher;
  /** Calls so far (refused ones included). */
  readonly attempts: number;
  /** Watches open now. */
  readonly open: number;
}

export function limitedWatch(limit: number): LimitedWatch {
  let attempts = 0;
  let open = 0;
  const limited = (path: string, options: { persistent: boolean }, listener: (event: string, name: string | Buffer | null) => void): FSWatcher => {
    attempts += 1;
    if (open >= limit) {
      throw Object.assign(new Error(`ENOSPC: System limit for number of file watchers reached, watch '${path}'`), {
        code: 'ENOSPC',
        errno: -28,
        syscall: 'watch',
        path,
      });
    }
    const watcher = watch(path, options, listener);
    open += 1;
    const close = watcher.close.bind(watcher);
    let closed = false;
    watcher.close = () => {
      if (!closed) {
        closed = true;
        open -= 1;
      }
      close();
    };
    return watcher;
  };
  return Object.defineProperties(limited, {
    attempts: { get: () => attempts },
    open: { get: () => open },
  }) as LimitedWatch;
}
