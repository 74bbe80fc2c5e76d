// Event-loop delay, sampled by perf_hooks off the request path, read (and restarted) by each /metrics scrape.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** Sampling resolution (ms) of perf_hooks' timer. */
const RESOLUTION_MS = 10;

export interface LoopLagReading {
  /** Seconds. */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export class LoopLag {
  readonly #histogram: IntervalHistogram;

  constructor() {
    this.#histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.#histogram.enable();
  }

  /** The delays sampled since the previous reading (in seconds), then a fresh window. */
  take(): LoopLagReading {
    const histogram = this.#histogram;
    const reading = { p50: seconds(histogram.percentile(50)), p99: seconds(histogram.percentile(99)), max: seconds(histogram.max) };
    histogram.reset();
    return reading;
  }

  stop(): void {
    this.#histogram.disable();
  }
}

/** The histogram counts nanoseconds; an empty one answers NaN or a huge sentinel. */
function seconds(nanoseconds: number): number {
  return Number.isFinite(nanoseconds) && nanoseconds < 1e15 ? nanoseconds / 1e9 : 0;
}
