import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { GatewayError } from '../errors.js';
import { GENESIS_HASH, checkRecord } from './chain.js';
import { fileLogUnavailable, isDir } from './file-errors.js';
import { type AuditFileHandle, type AuditFs, listAuditFiles } from './fs.js';
import { countLines, readLinesBackward } from './lines.js';
import type { AuditEvent } from './types.js';

/** `type` of the record the sink writes itself after finding torn lines left by an interrupted write. */
export const RECOVERY_EVENT_TYPE = 'audit_recovery';

/** A line that is not JSON, found after the last valid record: the tail of an interrupted write. */
export interface TornLine {
  file: string;
  line: number;
  bytes: number;
  /** hex SHA-256 of the raw bytes of the line, so the recovery record names exactly what it covers. */
  sha256: string;
}

/** More unreadable lines than this after the last valid record is not a crash: refuse to guess. */
const MAX_TORN_LINES = 8;

const noop = () => {};

/**
 * The last valid record of a chain, scanning its files back from the newest (seq 0 and the genesis hash for an
 * empty chain), with the torn lines found after it (oldest first) and the newest file's name.
 */
export async function findChainHead(
  fs: AuditFs,
  dir: string,
  chain: string,
): Promise<{ head: { seq: number; hash: string }; torn: TornLine[]; newest: string | undefined }> {
  let names: string[];
  try {
    names = await listAuditFiles(dir, fs, chain);
  } catch (e) {
    throw fileLogUnavailable(dir, `cannot read audit log directory ${dir}`, e);
  }
  let head = { seq: 0, hash: GENESIS_HASH };
  const torn: TornLine[] = [];
  for (let i = names.length - 1; i >= 0; i--) {
    const name = names[i]!;
    const found = await scanTail(fs, dir, name, torn);
    if (found) {
      head = found;
      break;
    }
  }
  torn.reverse();
  return { head, torn, newest: names.at(-1) };
}

/** Scan one file from its end; push torn lines (newest first) and return the last valid record's head. */
export async function scanTail(fs: AuditFs, dir: string, name: string, torn: TornLine[]): Promise<{ seq: number; hash: string } | undefined> {
  const path = join(dir, name);
  let fh: AuditFileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (e) {
    if (isDir(e)) return undefined;
    throw fileLogUnavailable(dir, `cannot read audit log ${path}`, e);
  }
  try {
    const { size } = await fh.stat();
    const fileTorn: { fromEnd: number; bytes: Buffer }[] = [];
    let head: { seq: number; hash: string } | undefined;
    for await (const line of readLinesBackward(fh, size)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line.bytes.toString('utf8'));
      } catch {
        fileTorn.push({ fromEnd: line.fromEnd, bytes: line.bytes });
        if (torn.length + fileTorn.length > MAX_TORN_LINES) {
          throw new GatewayError(
            'audit_unavailable',
            `audit log ${dir}: more than ${MAX_TORN_LINES} unreadable lines at the end of ${name}; this is not an interrupted write — run "xaa-gateway audit verify"`,
          );
        }
        continue;
      }
      const check = checkRecord(parsed);
      if (!check.ok) {
        const lineNo = (await countLines(fh, size)) - line.fromEnd + 1;
        throw new GatewayError(
          'audit_unavailable',
          `audit log ${dir}: ${name}:${lineNo} is not a valid record (${check.reason}); refusing to extend a chain that may have been modified — run "xaa-gateway audit verify"`,
        );
      }
      head = { seq: check.record.seq, hash: check.record.hash };
      break;
    }
    if (fileTorn.length) {
      const total = await countLines(fh, size);
      for (const t of fileTorn) {
        torn.push({
          file: name,
          line: total - t.fromEnd + 1,
          bytes: t.bytes.length,
          sha256: createHash('sha256').update(t.bytes).digest('hex'),
        });
      }
    }
    return head;
  } catch (e) {
    if (isDir(e)) return undefined;
    throw fileLogUnavailable(dir, `cannot read audit log ${path}`, e);
  } finally {
    await fh.close().catch(noop);
  }
}

/** The warning raised when recovery found torn lines (oldest first in `torn`). */
export function tornLinesWarning(dir: string, head: { seq: number }, torn: TornLine[]): string {
  const where = torn.map((t) => `${t.file}:${t.line} (${t.bytes} bytes)`).join(', ');
  return (
    `audit log ${dir}: torn line ${where} left by an interrupted write; kept as evidence, the chain continues ` +
    `from seq ${head.seq} on a fresh line after a recovery record`
  );
}

/** The record that covers torn lines, written before the chain continues after them. */
export function recoveryEvent(head: { seq: number }, torn: TornLine[]): AuditEvent {
  return {
    type: RECOVERY_EVENT_TYPE,
    phase: 'outcome',
    traceId: randomUUID(),
    reason: 'interrupted write: torn lines kept as evidence; the chain continues from the last valid record',
    recovered: { afterSeq: head.seq, torn },
  };
}
