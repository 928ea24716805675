import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { GatewayError } from '../errors.js';
import { GENESIS_HASH, checkRecord } from './chain.js';
import { RECOVERY_EVENT_TYPE } from './file-log.js';
import { describeOsError, listAuditFiles } from './fs.js';
import { readLines } from './lines.js';

export type VerifyResult =
  | {
      ok: true;
      /** Valid records. */
      count: number;
      /** Audit files read. */
      files: number;
      /** Last valid record: compare with an externally kept copy to detect truncation of the end. */
      head?: { seq: number; hash: string };
      /** The last line of the last file is a torn write (crash mid-append): not a record, not a break. */
      tornTail?: { file: string; line: number };
      /** Torn lines in the middle that a later recovery record names exactly (the log was reopened after a crash). */
      recovered?: { file: string; line: number }[];
    }
  | {
      ok: false;
      /** Valid records before the break. */
      count: number;
      broken: { file: string; line: number; seq?: number; reason: string };
    };

export const REASON_HASH = 'hash mismatch (record was modified)';
export const REASON_PREV = 'prevHash does not match previous record (record deleted, inserted or reordered)';
export const REASON_JSON = 'invalid JSON';

interface Torn {
  file: string;
  line: number;
  sha256: string;
}

/**
 * Stream every file of the log and check each record's own hash, its link to the previous record and its
 * seq. Stops at the first break. A crash mid-append leaves a torn last line: reported as `tornTail` when it
 * ends the log, accepted in the middle only when the next record is the sink's recovery record naming it.
 */
export async function verifyAuditDir(dir: string): Promise<VerifyResult> {
  let names: string[];
  try {
    names = await listAuditFiles(dir);
  } catch (e) {
    throw new GatewayError('audit_unavailable', `cannot read audit log directory ${dir}: ${describeOsError(e)}`, { cause: e });
  }
  let count = 0;
  let prev = { seq: 0, hash: GENESIS_HASH };
  let torn: Torn[] = [];
  const recovered: { file: string; line: number }[] = [];
  const broken = (file: string, line: number, reason: string, seq?: number): VerifyResult => ({
    ok: false,
    count,
    broken: { file, line, ...(seq !== undefined ? { seq } : {}), reason },
  });

  for (const file of names) {
    try {
      for await (const { number, bytes } of readLines(join(dir, file))) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(bytes.toString('utf8'));
        } catch {
          torn.push({ file, line: number, sha256: createHash('sha256').update(bytes).digest('hex') });
          continue;
        }
        const check = checkRecord(parsed);
        if (torn.length) {
          // Only the sink's recovery record, correct in itself and naming exactly these lines, may follow them.
          if (!check.ok || !coversTorn(check.record, torn) || check.record.prevHash !== prev.hash || check.record.seq !== prev.seq + 1) {
            return broken(torn[0]!.file, torn[0]!.line, REASON_JSON);
          }
          recovered.push(...torn.map(({ file: f, line: l }) => ({ file: f, line: l })));
          torn = [];
        }
        if (!check.ok) return broken(file, number, check.reason, check.seq);
        const record = check.record;
        if (record.prevHash !== prev.hash) return broken(file, number, REASON_PREV, record.seq);
        if (record.seq !== prev.seq + 1) {
          return broken(file, number, `seq out of order (expected ${prev.seq + 1}, found ${record.seq})`, record.seq);
        }
        prev = { seq: record.seq, hash: record.hash };
        count++;
      }
    } catch (e) {
      throw new GatewayError('audit_unavailable', `cannot read audit log ${join(dir, file)}: ${describeOsError(e)}`, { cause: e });
    }
  }
  return {
    ok: true,
    count,
    files: names.length,
    ...(count ? { head: prev } : {}),
    ...(torn.length ? { tornTail: { file: torn[0]!.file, line: torn[0]!.line } } : {}),
    ...(recovered.length ? { recovered } : {}),
  };
}

function coversTorn(record: Record<string, unknown>, torn: Torn[]): boolean {
  if (record.type !== RECOVERY_EVENT_TYPE) return false;
  const listed = (record.recovered as { torn?: unknown } | undefined)?.torn;
  if (!Array.isArray(listed) || listed.length !== torn.length) return false;
  return torn.every((t, i) => {
    const l = listed[i] as Partial<Torn> | null;
    return l?.file === t.file && l.line === t.line && l.sha256 === t.sha256;
  });
}
