// CPU time of another process from /proc (Linux): its main thread (where Node runs JavaScript) and all its threads.
import { readFileSync } from 'node:fs';

export interface CpuTime {
  /** Main thread, ms (from /proc/<pid>/task/<pid>/schedstat, nanosecond resolution). */
  readonly mainMs: number;
  /** Every thread of the process (main, libuv pool, GC helpers), ms (from /proc/<pid>/stat, clock ticks). */
  readonly processMs: number;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** null where /proc is not there (not Linux): the bench then prints no CPU columns. */
export function cpuTimeOf(pid: number | undefined): CpuTime | null {
  if (pid === undefined) return null;
  try {
    const mainNs = Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]);
    // the command name (field 2) may hold spaces; count fields after its closing parenthesis
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return { mainMs: mainNs / 1e6, processMs: ticks * TICK_MS };
  } catch {
    return null;
  }
}

export function cpuSince(before: CpuTime | null, after: CpuTime | null): CpuTime | null {
  if (!before || !after) return null;
  return { mainMs: after.mainMs - before.mainMs, processMs: after.processMs - before.processMs };
}
