/**
 * What the kernel says about a server process: CPU time (/proc/<pid>/stat) and memory
 * (/proc/<pid>/status), and the filesystem a directory lives on. Linux only, like the bench's numbers.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Node flags put before the script of every server the bench spawns (set once by index.ts: BENCH_PROFILE). */
export const serverNodeFlags: string[] = [];

/** Clock ticks per second of utime/stime (USER_HZ; 100 on Linux, asked once). */
export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of one process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Sum of cpuTicks over several processes (a stdio path is one process per client). */
export function cpuTicksOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
}

export interface Memory {
  /** Resident set now, KiB. */
  rssKiB: number;
  /** Peak resident set since the process started, KiB. */
  hwmKiB: number;
}

export function memory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}

/**
 * Waits until the processes are idle (at most one clock tick between them over 500 ms), so an
 * "idle" RSS is not read in the middle of a GC or a timer's work. Gives up after `maxMs`.
 */
export async function settle(pids: readonly number[], maxMs = 10_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let before = cpuTicksOf(pids);
  while (Date.now() < deadline) {
    await sleep(500);
    const now = cpuTicksOf(pids);
    if (now - before <= 1) return;
    before = now;
  }
}

/** The filesystem type of a directory as `stat -f` names it (e.g. "ext2/ext3", "tmpfs", "xfs"). */
export function filesystemType(dir: string): string {
  try {
    return execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim();
  } catch (e) {
    return `unknown (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
  }
}

/** The process's descendants (children of each of its threads, recursively), as /proc lists them now. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    let children: string;
    try {
      children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const c of children.split(' ').filter(Boolean).map(Number)) out.push(c, ...descendants(c));
  }
  return out;
}

/**
 * Samples the RSS of a process and its descendants every `everyMs` until stopped; stop() returns
 * the highest sum seen, KiB. For a start-up whose peak is in a short-lived child process (the
 * process's own VmHWM does not see it).
 */
export function samplePeak(pid: number, everyMs = 50): { stop(): number } {
  let peak = 0;
  const sample = () => {
    let sum = 0;
    for (const p of [pid, ...descendants(pid)]) {
      try {
        sum += memory(p).rssKiB || 0;
      } catch {
        // exited between listing and reading
      }
    }
    peak = Math.max(peak, sum);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}
