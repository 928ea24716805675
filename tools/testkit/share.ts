import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const HOST_LOCK = /^audit\..+-host\.lock$/;

/** The pids of the shared stdio hosts whose place is `shareDir` (their lock files name them). */
export function sharedHostPids(shareDir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(shareDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => HOST_LOCK.test(n))
    .flatMap((n) => {
      try {
        const pid = (JSON.parse(readFileSync(join(shareDir, n), 'utf8')) as { pid?: unknown }).pid;
        return typeof pid === 'number' ? [pid] : [];
      } catch {
        return [];
      }
    });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops the shared stdio hosts of `shareDir` (SIGTERM: they stop as `stdio` does, final checkpoint
 * included) and waits until they are gone, so a test's directory is removed only after them.
 */
export async function stopSharedHosts(shareDir: string, waitMs = 15_000): Promise<void> {
  const pids = sharedHostPids(shareDir);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone already
    }
  }
  const deadline = Date.now() + waitMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(25);
  for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
}
