import { randomUUID } from 'node:crypto';
import { sealRecord } from './chain.js';
import { auditFileName } from './fs.js';
import type { AuditEvent, AuditRecord } from './types.js';

/** A queued event of a round with its time and the day file it goes to. */
export interface Stamped<P extends { event: AuditEvent | undefined }> {
  p: P;
  time: string;
  file: string;
}

/**
 * Time each event of a round in call order and pick its day file: never one named before `lastFile` (the
 * newest file written: a clock stepped back must not write an earlier-named file, or file order would break
 * the chain), nor before the file of the event stamped before it.
 */
export function stampRound<P extends { event: AuditEvent | undefined }>(
  batch: P[],
  now: () => number,
  chain: string,
  lastFile: string | undefined,
): Stamped<P>[] {
  let file = lastFile;
  return batch.map((p) => {
    const time = new Date(now()).toISOString();
    const day = auditFileName(time, chain);
    file = file !== undefined && file > day ? file : day;
    return { p, time, file };
  });
}

/** Seal one day's events of a round into records that continue the chain from `head`; the last one is the new head. */
export function sealSegment(segment: Stamped<{ event: AuditEvent | undefined }>[], head: { seq: number; hash: string }, chain: string): AuditRecord[] {
  let { seq, hash } = head;
  return segment.map((s) => {
    const record = sealRecord(s.p.event!, {
      time: s.time,
      id: randomUUID(),
      seq: ++seq,
      prevHash: hash,
      ...(chain ? { instance: chain } : {}),
    });
    hash = record.hash;
    return record;
  });
}
