import { createHash } from 'node:crypto';
import { GENESIS_HASH, checkRecord } from './chain.js';
import { GatewayError } from '../errors.js';
import { CHECKPOINT_GRACE_MS, checkpointDigest, readCheckpoint, verifyCheckpointChain, type CheckpointClaims } from './checkpoint.js';
import { CHECKPOINT_EVENT_TYPE } from './checkpointer.js';
import { RECOVERY_EVENT_TYPE } from './file-log.js';
import type { AuditJwks } from './signing-key.js';
import { type AuditSource, type SourceLine, toSource } from './source.js';

/** What verify found in one instance's chain. */
export interface ChainVerifyResult {
  /** The chain's instance; '' for the unnamed chain (logs written before chains had names). */
  instance: string;
  /** Valid records. */
  count: number;
  /** Audit files read. */
  files: number;
  /** Last valid record: compare with an externally kept copy (or a checkpoint) to detect truncation of the end. */
  head?: { seq: number; hash: string };
  /** Time of the head record. */
  headTime?: string;
  /** The last line of the last file is a torn write (crash mid-append): not a record, not a break. */
  tornTail?: { file: string; line: number };
  /** Torn lines in the middle that a later recovery record names exactly (the log was reopened after a crash). */
  recovered?: { file: string; line: number }[];
  /** The chain's signed checkpoints, verified: how many, the last one's n and seq, whether it is final. */
  checkpoints?: { count: number; last: { n: number; seq: number; time: string; final: boolean }; unsealed: number };
}

export interface VerifyOptions {
  /** Trusted audit public keys. Required when a chain has checkpoints (else verify throws naming the fix). */
  keys?: AuditJwks;
  /** Checkpoints a second party kept (the gateway's log lines, a copy file): each must be in the store too. */
  copies?: string[];
  /** Where the keys came from, for messages. */
  keysFrom?: string;
}

export interface VerifyBreak {
  /** The chain it is in ('' for the unnamed chain). */
  instance: string;
  file: string;
  line: number;
  seq?: number;
  reason: string;
}

export type VerifyResult =
  | ({
      ok: true;
      /** Every chain, by instance name. */
      chains: ChainVerifyResult[];
    } & Omit<ChainVerifyResult, 'instance'>)
  | {
      ok: false;
      /** Valid records before the break (all chains). */
      count: number;
      chains: ChainVerifyResult[];
      broken: VerifyBreak;
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
 * Verify every chain (one per writing instance) of a directory or another source. The top-level count and
 * files add up the chains; head, tornTail and recovered are the only chain's when there is one. Stops at
 * the first break.
 */
export async function verifyAuditDir(source: string | AuditSource, options: VerifyOptions = {}): Promise<VerifyResult> {
  const src = toSource(source);
  const done: ChainVerifyResult[] = [];
  const copies = groupCopies(options.copies ?? []);
  const chains = [...new Set([...(await src.chains()), ...copies.keys()])].sort();
  for (const instance of chains) {
    const once = async () => {
      const signed = await checkpointsOf(src, instance, copies.get(instance) ?? [], options);
      return 'broken' in signed ? signed : verifyChainLines(instance, src.lines(instance), signed);
    };
    let r = await once();
    // A live instance stored a checkpoint (and its record) after its checkpoints were read: read again.
    if ('newerCheckpoint' in r && r.newerCheckpoint) r = await once();
    if ('broken' in r) return { ok: false, count: done.reduce((n, c) => n + c.count, 0) + r.count, chains: done, broken: r.broken };
    done.push(r);
  }
  const only = done.length === 1 ? done[0]! : undefined;
  return {
    ok: true,
    chains: done,
    count: done.reduce((n, c) => n + c.count, 0),
    files: done.reduce((n, c) => n + c.files, 0),
    ...(only?.head ? { head: only.head } : {}),
    ...(only?.tornTail ? { tornTail: only.tornTail } : {}),
    ...(only?.recovered ? { recovered: only.recovered } : {}),
  };
}

/** Copied checkpoints by the instance their (unverified) claims name. */
function groupCopies(list: string[]): Map<string, string[]> {
  const by = new Map<string, Map<number, string>>();
  for (const jws of list) {
    const c = readCheckpoint(jws);
    if (!c) continue;
    const m = by.get(c.claims.instance) ?? new Map<number, string>();
    m.set(c.claims.n, jws);
    by.set(c.claims.instance, m);
  }
  return new Map([...by].map(([i, m]) => [i, [...m.entries()].sort(([a], [b]) => a - b).map(([, j]) => j)]));
}

/** What the chain's records are checked against. */
interface Signed {
  where: string;
  checkpoints: CheckpointClaims[];
  digests: Map<number, string>;
}

/** The chain's checkpoints, the second party's copies merged in, verified as a chain of their own. */
async function checkpointsOf(
  src: AuditSource,
  instance: string,
  copied: string[],
  options: VerifyOptions,
): Promise<Signed | { count: number; broken: VerifyBreak }> {
  const { where, list } = await src.checkpoints(instance);
  const broken = (line: number, reason: string) => ({ count: 0, broken: { instance, file: where, line, reason } });
  const byN = new Map<number, string>();
  for (const jws of list) {
    const n = readCheckpoint(jws)?.claims.n;
    if (n !== undefined && !byN.has(n)) byN.set(n, jws);
  }
  const stored = byN.size;
  for (const jws of copied) {
    const n = readCheckpoint(jws)!.claims.n;
    const here = byN.get(n);
    if (here === undefined) {
      if (n <= stored) continue; // reported by the chain check below as a gap
      return broken(n, `checkpoint ${n}, kept by the second party, is missing from ${where} (removed)`);
    }
    if (here !== jws) return broken(n, `checkpoint ${n} in ${where} differs from the second party's copy (replaced)`);
  }
  for (const jws of copied) {
    const n = readCheckpoint(jws)!.claims.n;
    if (!byN.has(n)) byN.set(n, jws);
  }
  const merged = list.length === byN.size ? list : [...byN.entries()].sort(([a], [b]) => a - b).map(([, j]) => j);
  if (!merged.length) return { where, checkpoints: [], digests: new Map() };
  if (!options.keys) {
    throw new GatewayError(
      'config_invalid',
      `the chain of ${instance ? `"${instance}"` : 'the unnamed chain'} has ${merged.length} signed checkpoint(s) and no audit public keys were given to check them: pass --keys FILE (from \`xaa-gateway audit keys\`, kept off this host), or run where audit.signingKeyFile is readable`,
    );
  }
  const r = await verifyCheckpointChain(instance, merged, options.keys);
  if (!r.ok) return broken(r.n, r.reason);
  return { where, checkpoints: r.checkpoints, digests: new Map(merged.map((j, i) => [i + 1, checkpointDigest(j)])) };
}

/**
 * Check one chain's stored lines in order: each record's own hash, its link to the previous record, its seq
 * and that it names this chain's instance. Stops at the first break. A crash mid-append leaves a torn last
 * line: reported as `tornTail` when it ends the chain, accepted in the middle only when the next record is
 * the sink's recovery record naming it.
 */
export async function verifyChainLines(
  instance: string,
  lines: AsyncIterable<SourceLine>,
  signed: Signed = { where: '', checkpoints: [], digests: new Map() },
): Promise<ChainVerifyResult | { count: number; broken: VerifyBreak; newerCheckpoint?: boolean }> {
  // seq -> the checkpoints that sign the chain's head at that seq.
  const expect = new Map<number, CheckpointClaims[]>();
  for (const c of signed.checkpoints) expect.set(c.seq, [...(expect.get(c.seq) ?? []), c]);
  const lastCp = signed.checkpoints.at(-1);
  let firstUnsealed: { seq: number; time: string } | undefined;
  let unsealed = 0;
  let lastLocation = { file: signed.where, line: 0 };
  let count = 0;
  let prev = { seq: 0, hash: GENESIS_HASH, time: '' };
  let torn: Torn[] = [];
  const files = new Set<string>();
  const recovered: { file: string; line: number }[] = [];
  const broken = (file: string, line: number, reason: string, seq?: number) => ({
    count,
    broken: { instance, file, line, ...(seq !== undefined ? { seq } : {}), reason },
  });

  for await (const { file, line: number, bytes } of lines) {
    files.add(file);
    lastLocation = { file, line: number };
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
    const named = record.instance ?? '';
    if (named !== instance) return broken(file, number, wrongInstance(named, instance), record.seq);
    if (record.prevHash !== prev.hash) return broken(file, number, REASON_PREV, record.seq);
    if (record.seq !== prev.seq + 1) {
      return broken(file, number, `seq out of order (expected ${prev.seq + 1}, found ${record.seq})`, record.seq);
    }
    for (const c of expect.get(record.seq) ?? []) {
      if (c.hash !== record.hash) {
        return broken(
          file,
          number,
          `checkpoint ${c.n} signed hash ${c.hash.slice(0, 16)}… at seq ${c.seq}, the chain has ${record.hash.slice(0, 16)}… there: the chain was rewritten after it was signed`,
          record.seq,
        );
      }
    }
    if (record.type === CHECKPOINT_EVENT_TYPE) {
      const named = record.checkpoint as { n?: unknown; digest?: unknown } | undefined;
      const n = typeof named?.n === 'number' ? named.n : NaN;
      if (signed.digests.get(n) !== named?.digest) {
        const b = broken(
          file,
          number,
          `the chain records checkpoint ${String(named?.n)}, which is missing from ${signed.where || 'the checkpoints'} (removed or replaced)`,
          record.seq,
        );
        return n > signed.digests.size ? { ...b, newerCheckpoint: true } : b;
      }
    }
    if (lastCp && record.seq > lastCp.seq) {
      unsealed++;
      firstUnsealed ??= { seq: record.seq, time: record.time };
    }
    prev = { seq: record.seq, hash: record.hash, time: record.time };
    count++;
  }
  if (lastCp && lastCp.seq > prev.seq) {
    const where = torn.length ? `; the record at seq ${prev.seq + 1} is cut short (torn), and a checkpoint had signed it, so this is not a crash` : '';
    return broken(
      lastLocation.file,
      lastLocation.line,
      `checkpoint ${lastCp.n} signed the chain up to seq ${lastCp.seq}, but it ends at seq ${prev.seq}: records ${prev.seq + 1}..${lastCp.seq} were cut off${where}`,
      prev.seq,
    );
  }
  if (lastCp && firstUnsealed) {
    const bound = 2 * lastCp.intervalSeconds * 1000 + CHECKPOINT_GRACE_MS;
    if (Date.parse(prev.time) - Date.parse(firstUnsealed.time) > bound) {
      return broken(
        signed.where,
        lastCp.n,
        `records from seq ${firstUnsealed.seq} (${firstUnsealed.time}) on are covered by no checkpoint, though they are older than ${Math.round(bound / 1000)} s before the chain's newest record (${prev.time}): a checkpoint is missing`,
        firstUnsealed.seq,
      );
    }
  }
  return {
    ...(lastCp
      ? { checkpoints: { count: signed.checkpoints.length, last: { n: lastCp.n, seq: lastCp.seq, time: lastCp.time, final: lastCp.final === true }, unsealed } }
      : {}),
    instance,
    count,
    files: files.size,
    ...(count ? { head: { seq: prev.seq, hash: prev.hash }, headTime: prev.time } : {}),
    ...(torn.length ? { tornTail: { file: torn[0]!.file, line: torn[0]!.line } } : {}),
    ...(recovered.length ? { recovered } : {}),
  };
}

/** A record that names another instance than the chain it is in was moved there (or the chain was spliced). */
export function wrongInstance(named: string, chain: string): string {
  const n = named ? `instance "${named}"` : 'no instance';
  const c = chain ? `"${chain}"` : 'the unnamed chain';
  return `record names ${n} but is in the chain of ${c} (moved from another instance's chain)`;
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
