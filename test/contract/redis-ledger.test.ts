// Runs the ledger contract against the Redis ledger on a real Redis (REDIS_URL, default 127.0.0.1:6379); fails if absent.
import { before } from 'node:test';
import { ledgerContract } from './ledger-contract.ts';
import { windowsContract } from './ledger-windows-contract.ts';
import { makeTestLedger, requireRedis } from '../unit/ledger/redis-test-support.ts';

before(() => requireRedis());

ledgerContract('redis', async () => {
  const { ledger, cleanup } = await makeTestLedger('contract');
  return { ledger, cleanup };
});

windowsContract('redis', async () => {
  const { ledger, cleanup } = await makeTestLedger('windows');
  return { ledger, cleanup };
});
