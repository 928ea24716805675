import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** All records of an audit directory, in order (test helper; the product reads with src/audit). */
export async function readAuditRecords(dir: string): Promise<Record<string, any>[]> {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();
  } catch {
    return [];
  }
  return files.flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, any>),
  );
}
