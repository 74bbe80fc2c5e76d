// Runs the ledger contract against the embedded MemoryLedger (real clock, no journal).
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { ledgerContract } from './ledger-contract.ts';
import { windowsContract } from './ledger-windows-contract.ts';

ledgerContract('memory', async () => {
  const ledger = new MemoryLedger({ sweepIntervalMs: 0 });
  return { ledger, cleanup: () => ledger.close() };
});

windowsContract('memory', async () => {
  const ledger = new MemoryLedger({ sweepIntervalMs: 0 });
  return { ledger, cleanup: () => ledger.close() };
});
