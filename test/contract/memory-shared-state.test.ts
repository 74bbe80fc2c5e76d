// Runs the shared-state contract against the in-process form (TOLLGATE_LEDGER=memory).
import { sharedStateContract } from './shared-state-contract.ts';
import { MemorySharedState } from '../../src/ledger/shared-state.ts';

sharedStateContract('memory', async () => {
  const state = new MemorySharedState();
  return { state, cleanup: () => state.close() };
});
