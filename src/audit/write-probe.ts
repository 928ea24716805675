import { join } from 'node:path';
import { writeAll } from './chain-files.js';
import { type AuditFs, describeOsError } from './fs.js';

const noop = () => {};

/**
 * Readiness of the directory: writes, fsyncs and removes a 4 KiB probe file in it (a full disk fails the
 * write with ENOSPC, a read-only one the open with EROFS, a failing device the fsync with EIO). Undefined
 * when it could, else what failed.
 */
export async function probeWrite(fs: AuditFs, dir: string): Promise<string | undefined> {
  const probe = join(dir, `.write-probe.${process.pid}`);
  try {
    const fh = await fs.open(probe, 'w', 0o600);
    try {
      await writeAll(fh, Buffer.alloc(4096));
      await fh.datasync();
    } finally {
      await fh.close().catch(noop);
      await fs.unlink(probe).catch(noop);
    }
  } catch (e) {
    return `cannot write in ${dir}: ${describeOsError(e)}`;
  }
  return undefined;
}
