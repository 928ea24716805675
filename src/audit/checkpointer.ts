import { randomUUID } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { checkpointDigest, nextLink, signCheckpoint, type CheckpointingSink, type StoredCheckpoint } from './checkpoint.js';
import type { AuditSigningKey } from './signing-key.js';
import type { AuditEvent } from './types.js';

/** `type` of the record an instance appends to its chain after each checkpoint it stored. */
export const CHECKPOINT_EVENT_TYPE = 'audit_checkpoint';

export interface CheckpointerOptions {
  sink: CheckpointingSink;
  key: AuditSigningKey;
  intervalMs: number;
  now: () => number;
  /** Hands each stored checkpoint to the second party (the gateway's log, a copy file). */
  emit?: (cp: StoredCheckpoint) => void | Promise<void>;
  onError: (e: unknown) => void;
}

/**
 * Signs this instance's chain head: at start (sealing whatever a previous run left), every interval
 * while records keep coming, and at shutdown (`final`). After each checkpoint it appends a record to the
 * chain naming it (n and digest): the chain then shows which checkpoints must exist, so removing one,
 * or the whole checkpoint file, is caught by verify even without the second party's copy.
 */
export class Checkpointer {
  readonly #o: CheckpointerOptions;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<unknown> = Promise.resolve();
  /** seq of this process's last checkpoint record: a head that moved only by it needs no new checkpoint. */
  #markerSeq = -1;

  constructor(options: CheckpointerOptions) {
    this.#o = options;
  }

  /** Writes the start checkpoint, then one every interval when the head moved. */
  async start(): Promise<void> {
    await this.checkpoint();
    this.#timer = setInterval(() => {
      this.#inFlight = this.checkpoint().catch(this.#o.onError);
    }, this.#o.intervalMs);
    this.#timer.unref();
  }

  /** The final checkpoint (clean shutdown); call before closing the sink. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
    await this.checkpoint(true);
  }

  /** One checkpoint now, unless the head did not move since the last one (a final one unless the last is final at this head). */
  async checkpoint(final = false): Promise<StoredCheckpoint | undefined> {
    const { sink, key, now, intervalMs } = this.#o;
    const cp = await sink.checkpoint(async (head, last) => {
      // Nothing to sign yet (an empty chain), or nothing new since the last checkpoint.
      if (head.seq === 0) return undefined;
      if (final ? last?.claims.final && last.claims.seq === head.seq : last && (last.claims.seq === head.seq || head.seq === this.#markerSeq)) return undefined;
      return signCheckpoint(key, {
        instance: sink.instance ?? '',
        ...nextLink(last),
        seq: head.seq,
        hash: head.hash,
        time: new Date(now()).toISOString(),
        intervalSeconds: Math.round(intervalMs / 1000),
        ...(final ? { final: true } : {}),
      });
    });
    if (!cp) return undefined;
    await this.#o.emit?.(cp);
    if (!final) {
      const marker: AuditEvent = {
        type: CHECKPOINT_EVENT_TYPE,
        phase: 'outcome',
        traceId: randomUUID(),
        checkpoint: { n: cp.claims.n, seq: cp.claims.seq, hash: cp.claims.hash, digest: checkpointDigest(cp.jws) },
      };
      this.#markerSeq = (await sink.append(marker, { durability: 'deferred' })).seq;
    }
    return cp;
  }
}

/** Appends each checkpoint to a file (audit.checkpoints.copyFile: put it on another disk or a mount a second party owns), fsync'd. */
export function copyFileEmitter(path: string): (cp: StoredCheckpoint) => Promise<void> {
  return async (cp) => {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const fh = await open(path, 'a', 0o600);
    try {
      await fh.write(`${JSON.stringify({ instance: cp.claims.instance, n: cp.claims.n, seq: cp.claims.seq, time: cp.claims.time, checkpoint: cp.jws })}\n`);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  };
}

export interface StartCheckpointsOptions {
  sink: CheckpointingSink;
  /** The audit signing key's file (created if missing). */
  keyFile: string;
  intervalSeconds: number;
  /** audit.checkpoints.copyFile, resolved. */
  copyFile?: string;
  now: () => number;
  logger: { info(msg: string, fields?: Record<string, unknown>): void; warn(msg: string, fields?: Record<string, unknown>): void };
}

/**
 * Loads the signing key, writes the start checkpoint and keeps signing; returns the key (for the
 * well-known URL) and `stop`, which writes the final checkpoint: call it before closing the sink.
 * Every checkpoint is logged (the log pipeline is a second party) and appended to the copy file if set.
 */
export async function startCheckpoints(o: StartCheckpointsOptions): Promise<{ key: AuditSigningKey; stop(): Promise<void> }> {
  const { AuditSigningKey: Key } = await import('./signing-key.js');
  const key = await Key.load(o.keyFile, o.now);
  const copy = o.copyFile ? copyFileEmitter(o.copyFile) : undefined;
  const checkpointer = new Checkpointer({
    sink: o.sink,
    key,
    intervalMs: o.intervalSeconds * 1000,
    now: o.now,
    emit: async (cp) => {
      o.logger.info('audit checkpoint', {
        instance: cp.claims.instance,
        n: cp.claims.n,
        seq: cp.claims.seq,
        hash: cp.claims.hash,
        ...(cp.claims.final ? { final: true } : {}),
        checkpoint: cp.jws,
      });
      if (copy)
        await copy(cp).catch((e: unknown) => o.logger.warn('audit checkpoint: cannot append to audit.checkpoints.copyFile', { file: o.copyFile, error: e }));
    },
    onError: (e) => o.logger.warn('audit checkpoint failed; the next one is tried at the next interval', { error: e }),
  });
  await checkpointer.start();
  return { key, stop: () => checkpointer.stop() };
}
