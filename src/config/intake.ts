// Reads the intake limits (bytes in flight, body deadline, connection cap) and checks them against each other and the heap.
import { getHeapStatistics } from 'node:v8';
import type { IntakeLimits } from './config.ts';
import { strictPositiveInt, type Env, type Problems } from './env-values.ts';

const MiB = 1024 * 1024;

/**
 * Process memory one request byte in flight costs at its peak: the body's bytes, its text, the parsed object, the
 * upstream text and bytes, and the history line (measured: 5.6 with 30 MiB ASCII bodies, docs/config.md). A body
 * whose text needs two bytes a character (one character outside Latin-1) costs more.
 */
export const MEMORY_BYTES_PER_BYTE_IN_FLIGHT = 6;

export function intakeLimits(options: { env: Env; report: Problems; maxBodyBytes: number }): IntakeLimits {
  const { env, report } = options;
  const limits: IntakeLimits = {
    maxBytesInFlight: strictPositiveInt({ env, name: 'TOLLGATE_MAX_BYTES_IN_FLIGHT', fallback: 256 * MiB, report }),
    maxAgentBytesInFlight: strictPositiveInt({ env, name: 'TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT', fallback: 64 * MiB, report }),
    bodyTimeoutMs: strictPositiveInt({ env, name: 'TOLLGATE_BODY_TIMEOUT_MS', fallback: 30_000, report }),
    maxConnections: strictPositiveInt({ env, name: 'TOLLGATE_MAX_CONNECTIONS', fallback: 2048, report }),
  };
  if (limits.maxAgentBytesInFlight > limits.maxBytesInFlight) {
    report.problems.push(
      `TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT: ${limits.maxAgentBytesInFlight} is more than TOLLGATE_MAX_BYTES_IN_FLIGHT (${limits.maxBytesInFlight}); one agent's share cannot exceed the whole`,
    );
  }
  if (options.maxBodyBytes > limits.maxAgentBytesInFlight) {
    report.problems.push(
      `TOLLGATE_MAX_BODY_BYTES: ${options.maxBodyBytes} is more than TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT (${limits.maxAgentBytesInFlight}); a body that large could never be admitted: raise the share or lower the limit`,
    );
  }
  const heapLimit = getHeapStatistics().heap_size_limit;
  const peakHeap = limits.maxBytesInFlight * MEMORY_BYTES_PER_BYTE_IN_FLIGHT;
  if (peakHeap > heapLimit * 0.75) {
    report.notices.push(
      `TOLLGATE_MAX_BYTES_IN_FLIGHT=${limits.maxBytesInFlight} may cost up to ${Math.round(peakHeap / MiB)} MiB of heap when full, more than three quarters of this process's heap limit (${Math.round(heapLimit / MiB)} MiB): lower it, or raise node's --max-old-space-size`,
    );
  }
  return limits;
}
