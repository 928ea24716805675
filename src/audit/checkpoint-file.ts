import { join } from 'node:path';
import { readCheckpoint, type CheckpointMaker, type StoredCheckpoint } from './checkpoint.js';
import { syncDir, writeAll } from './chain-files.js';
import { type AuditFs, checkpointFileName } from './fs.js';
import { readLinesBackward } from './lines.js';
import { parseLine } from './source.js';

const noop = () => {};

/**
 * Under the chain's lock, its records durable: read the last checkpoint of `audit-checkpoints[.<instance>].jsonl`,
 * let `make` sign the head (read once that file is read), and append the new checkpoint, fdatasync'd (and the
 * directory fsync'd when the file is new). Undefined when `make` made none.
 */
export async function writeCheckpointFile(
  fs: AuditFs,
  dir: string,
  chain: string,
  head: () => { seq: number; hash: string },
  make: CheckpointMaker,
): Promise<StoredCheckpoint | undefined> {
  const path = join(dir, checkpointFileName(chain));
  let last: StoredCheckpoint | undefined;
  let endsWithNewline = true;
  let existed = true;
  try {
    const fh = await fs.open(path, 'r');
    try {
      const { size } = await fh.stat();
      for await (const line of readLinesBackward(fh, size)) {
        if (line.fromEnd === 1) endsWithNewline = line.terminated;
        last = readCheckpoint(String((parseLine(line.bytes) as { checkpoint?: unknown } | undefined)?.checkpoint ?? ''));
        if (last) break; // a torn last line (crash mid-append) is not a checkpoint
      }
    } finally {
      await fh.close().catch(noop);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    existed = false;
  }
  const cp = await make(head(), last);
  if (!cp) return undefined;
  const fh = await fs.open(path, 'a', 0o600);
  try {
    const text = `${endsWithNewline ? '' : '\n'}${JSON.stringify({ n: cp.claims.n, seq: cp.claims.seq, time: cp.claims.time, checkpoint: cp.jws })}\n`;
    await writeAll(fh, Buffer.from(text, 'utf8'));
    await fh.datasync();
  } finally {
    await fh.close().catch(noop);
  }
  if (!existed) await syncDir(fs, dir);
  return cp;
}
