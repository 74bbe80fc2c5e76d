// Test helper: the UI server (admin API, /costs/api, /metrics) and a proxy-port server with the history routes, on a running harness.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CostTotals } from '../../src/admin/cost-totals.ts';
import { createUiServer } from '../../src/admin/server.ts';
import { scanHistory } from '../../src/history/reader.ts';
import { createMetrics, type Metrics } from '../../src/observability/metrics.ts';
import { createApiServer } from '../../src/api/server.ts';
import { historyRoutes } from '../../src/api/history-routes.ts';
import type { Harness } from './harness.ts';

export interface UiFixture {
  /** UI port base URL. */
  readonly url: string;
  /** A second proxy-port server with the history routes mounted (as main.ts mounts them). */
  readonly apiUrl: string;
  readonly costs: CostTotals;
  readonly metrics: Metrics;
  close(): Promise<void>;
}

export async function startUi(harness: Harness): Promise<UiFixture> {
  const { deps, ledger, policies } = harness.tollgate;
  const historyDir = deps.config.historyDir;
  const costs = new CostTotals({ bus: deps.bus, historyDir, scanHistory });
  void costs.start();
  const metrics = createMetrics({ bus: deps.bus, ledger, agents: deps.agents, policies, history: deps.history });
  const ui = createUiServer({ config: deps.config, agents: deps.agents, policies, ledger, bus: deps.bus, historyDir, costs, metrics });
  const api = createApiServer({
    deps,
    extraRoutes: [historyRoutes({ agents: deps.agents, historyDir, uiToken: deps.config.uiToken })],
    health: async () => ({ ok: true }),
  });
  const url = await listen(ui);
  const apiUrl = await listen(api);
  return {
    url,
    apiUrl,
    costs,
    metrics,
    close: async () => {
      costs.stop();
      metrics.close();
      await Promise.all([stop(ui), stop(api)]);
    },
  };
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function stop(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
