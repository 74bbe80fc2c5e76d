// Start-up progress on stderr while the ledger journal replays (or history rebuilds): a live line on a terminal, sparse lines in logs.
import { formatCount } from '../dashboard/static/format.js';

export interface LoadProgress {
  readonly phase?: 'replay' | 'rebuild';
  readonly records: number;
}

export interface ReplayProgress {
  /** Pass as startTollgate's onReplayProgress. */
  update(progress: LoadProgress): void;
  /** A log line that must not land on the progress line (pass as startTollgate's log). */
  log(message: string): void;
  /** Ends the progress line. */
  done(): void;
}

const PHASE_TEXT = { replay: 'replaying ledger journal', rebuild: 'rebuilding ledger from history' } as const;

/**
 * On a TTY: one line rewritten at most every 100 ms, with the rate. Otherwise (a log file, journald): nothing for the
 * first 2 s, then a line at most every 5 s, so a quick start-up stays quiet and a long one shows it is alive.
 */
export function createReplayProgress(options: { stream: NodeJS.WriteStream; now?: () => number }): ReplayProgress {
  const { stream } = options;
  const now = options.now ?? Date.now;
  const tty = stream.isTTY === true;
  const started = now();
  let lastShown = Number.NEGATIVE_INFINITY;
  let lineOpen = false;
  const endLine = () => {
    if (lineOpen) stream.write('\r\x1b[K');
    lineOpen = false;
  };
  return {
    update(progress) {
      const at = now();
      const elapsed = at - started;
      const text = `tollgate: ${PHASE_TEXT[progress.phase ?? 'replay']}… ${formatCount(progress.records)} records`;
      if (tty) {
        if (at - lastShown < 100 || progress.records === 0) return;
        const rate = elapsed > 0 ? ` (${formatCount(Math.round((progress.records * 1000) / elapsed))}/s)` : '';
        stream.write(`\r\x1b[K${text}${rate}`);
        lineOpen = true;
      } else {
        if (elapsed < 2000 || at - lastShown < 5000) return;
        stream.write(`${text}\n`);
      }
      lastShown = at;
    },
    log(message) {
      endLine();
      stream.write(`tollgate: ${message}\n`);
    },
    done: endLine,
  };
}
