// Micro-benchmark of the loop breaker: µs per call for the fingerprint (hashing the last message) and for observe().
// `node bin/run-ts.js bench/micro-loop.ts`; `npm run bench` prints the same rows.
import { loopCostRows, sharedLoopCostRows } from './loop-cost.ts';

for (const row of [...loopCostRows(), ...(await sharedLoopCostRows())])
  console.log(`${row.label.padEnd(48)} ${row.microseconds.toFixed(2).padStart(8)} µs/call`);
