// Runs the ledger contract against the Redis ledger on a private 3-master Redis Cluster, with the grouped layout.
import { after, before } from 'node:test';
import { randomUUID } from 'node:crypto';
import { createRedisLedger } from '../../src/ledger/redis/ledger.ts';
import { ledgerContract, type MakeLedger } from './ledger-contract.ts';
import { windowsContract } from './ledger-windows-contract.ts';
import { PrivateCluster } from '../unit/ledger/redis-test-support.ts';

let cluster: PrivateCluster;
before(async () => {
  cluster = await PrivateCluster.start();
});
after(() => cluster?.stop());

/**
 * Each test's ledger puts all of that test's scopes in one budget group of its own (the contract's scopes are random,
 * so no policy could name them): the tests' groups spread over the three masters, as a fleet's groups do.
 */
const makeLedger: MakeLedger = async () => {
  const group = `test-${randomUUID().slice(0, 8)}`;
  const ledger = await createRedisLedger({ url: cluster.url, cluster: true, keyPrefix: 'contract', groups: () => ({ groupOf: () => group }) });
  return { ledger, cleanup: () => ledger.close() };
};

ledgerContract('redis cluster, grouped', makeLedger);
windowsContract('redis cluster, grouped', makeLedger);
