import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * All records of an audit directory, every instance's chain, by time (each chain in its order; test
 * helper: the product reads with src/audit). Checkpoint files are not records.
 */
export async function readAuditRecords(dir: string): Promise<Record<string, any>[]> {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => /^audit-\d{4}-\d\d-\d\d(\..+)?\.jsonl$/.test(f))
      .sort();
  } catch {
    return [];
  }
  const all = files.flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, any>),
  );
  // Stable: records of one chain keep their order.
  return all
    .map((r, i) => [r, i] as const)
    .sort(([a, i], [b, j]) => (a.time < b.time ? -1 : a.time > b.time ? 1 : i - j))
    .map(([r]) => r);
}
