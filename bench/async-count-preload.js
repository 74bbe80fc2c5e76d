// Preloaded into the proxy by bench/async-per-call.ts (--import): counts async resources made, by type, and HTTP requests served.
import { createHook } from 'node:async_hooks';
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

const counts = { requests: 0 };
subscribe('http.server.request.start', () => {
  counts.requests++;
});
// with a hook on, V8 makes the throwaway promise of every `await` it otherwise elides: counts are of the code's awaits too
createHook({
  init(_id, type) {
    counts[type] = (counts[type] ?? 0) + 1;
  },
}).enable();
// SIGUSR2: the counts so far, written where the driver said
process.on('SIGUSR2', () => writeFileSync(process.env.ASYNC_COUNT_OUT ?? '/dev/null', JSON.stringify(counts)));
