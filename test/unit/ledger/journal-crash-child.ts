// Helper process for journal.test.ts: journals settlements, reports how many were flushed, then kills itself with SIGKILL.
import { Journal } from '../../../src/ledger/journal/journal.ts';
import { toRow } from '../../../src/ledger/amounts.ts';

const journal = await Journal.open({ file: process.argv[2] });
const row = toRow({ requests: 1, usd_micros: 10 });
for (let i = 0; i < 5000; i++) journal.append({ at: Date.now(), scopes: ['agent:crash'], row });
await journal.flush();
process.stdout.write('5000\n', () => {
  // More appends in flight when the process dies: they may or may not land, but never corrupt what was flushed.
  for (let i = 0; i < 5000; i++) journal.append({ at: Date.now(), scopes: ['agent:crash'], row });
  setImmediate(() => process.kill(process.pid, 'SIGKILL'));
});
