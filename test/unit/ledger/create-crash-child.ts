// Helper process for create.test.ts: starts the embedded ledger on a data dir, then kills itself with SIGKILL at ready or once the journal is compacted.
import { createLedger } from '../../../src/ledger/create.ts';
import { scanHistorySince } from '../../../src/history/recent-scan.ts';
import type { Config } from '../../../src/config/config.ts';

const [dataDir, historyDir, when] = process.argv.slice(2);
const config = { dataDir, historyDir, ledger: { kind: 'memory' } } as unknown as Config;
const kill = () => process.kill(process.pid, 'SIGKILL');
await createLedger({
  config,
  scanRecentHistory: scanHistorySince,
  onCompacted: () => {
    if (when === 'compacted') kill();
  },
});
// ready: the compaction after start-up has not taken its snapshot yet (it waits for the next turn)
if (when === 'ready') kill();
