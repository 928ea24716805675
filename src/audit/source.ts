import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayError } from '../errors.js';
import { checkpointFileName, describeOsError, listAuditChains, listAuditFiles } from './fs.js';
import { readLines, readLinesBackward } from './lines.js';
import type { AuditRecord } from './types.js';

/** One stored record as read back: where it is (file and line, or table and seq) and its raw bytes. */
export interface SourceLine {
  file: string;
  line: number;
  /** As stored, without the newline: a torn line may end inside a UTF-8 sequence. */
  bytes: Buffer;
  /** False for a file's last line without a newline (being written, or torn). */
  terminated: boolean;
}

/** Where `audit tail -f` stands in one chain. Opaque to callers. */
export type ChainCursor = { file?: string; offset: number } | { seq: number };

/**
 * Where the audit records are read from: a directory of chain files, or the PostgreSQL audit table of a
 * fleet. verify, query, tail, export and the console read through this, so each works on both sinks
 * and over every instance's chain at once.
 */
export interface AuditSource {
  /** For messages: the directory, or the database table. */
  readonly where: string;
  /** Instances with a chain ('' for the unnamed chain of older logs), sorted. */
  chains(): Promise<string[]>;
  /** The stored records of one chain in chain order. `since`/`until` may skip what is surely outside (whole days of files). */
  lines(instance: string, window?: { since?: Date; until?: Date }): AsyncIterable<SourceLine>;
  /** Up to `n` complete last lines of a chain, oldest first. */
  lastLines(instance: string, n: number): Promise<SourceLine[]>;
  /** A cursor after everything stored now in the chain (complete lines). */
  end(instance: string): Promise<ChainCursor>;
  /** Complete lines written after the cursor (undefined: the chain's start), and the cursor after them. */
  after(instance: string, cursor: ChainCursor | undefined): Promise<{ lines: SourceLine[]; cursor: ChainCursor }>;
  /** The chain's signed checkpoints (JWS, in stored order) and where they are kept, for messages. */
  checkpoints(instance: string): Promise<{ where: string; list: string[] }>;
  /** Release connections (a database source). */
  close?(): Promise<void>;
}

/** The JWS of a stored or copied checkpoint line (`{"checkpoint": "<jws>", ...}`, also a gateway log line), if any. */
export function checkpointOfLine(bytes: Buffer): string | undefined {
  const v = parseLine(bytes) as { checkpoint?: unknown } | undefined;
  return typeof v?.checkpoint === 'string' ? v.checkpoint : undefined;
}

/** A line as a record object, or undefined for a line that is not a JSON object (torn write). Does not verify. */
export function parseLine(bytes: Buffer): AuditRecord | undefined {
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as AuditRecord) : undefined;
  } catch {
    return undefined;
  }
}

const dayFile = (d: Date) => d.toISOString().slice(0, 10);

/** A directory written by FileAuditLog: one chain per instance, one file per UTC day. */
export class FileAuditSource implements AuditSource {
  constructor(readonly dir: string) {}

  get where(): string {
    return this.dir;
  }

  async chains(): Promise<string[]> {
    try {
      const names = new Set((await listAuditChains(this.dir)).keys());
      // A chain whose records are all gone still has its checkpoints: verify reports the cut.
      for (const f of await readdir(this.dir)) {
        const m = /^audit-checkpoints(?:\.(.+))?\.jsonl$/.exec(f);
        if (m) names.add(m[1] ?? '');
      }
      return [...names].sort();
    } catch (e) {
      throw new GatewayError('audit_unavailable', `cannot read audit log directory ${this.dir}: ${describeOsError(e)}`, { cause: e });
    }
  }

  async #files(instance: string): Promise<string[]> {
    try {
      return await listAuditFiles(this.dir, undefined, instance);
    } catch (e) {
      throw new GatewayError('audit_unavailable', `cannot read audit log directory ${this.dir}: ${describeOsError(e)}`, { cause: e });
    }
  }

  async *lines(instance: string, window: { since?: Date; until?: Date } = {}): AsyncGenerator<SourceLine> {
    // A file holds one UTC day: skip whole days outside the window.
    const first = window.since ? dayFile(window.since) : undefined;
    const last = window.until ? dayFile(new Date(window.until.getTime() - 1)) : undefined;
    for (const file of await this.#files(instance)) {
      const day = file.slice('audit-'.length, 'audit-'.length + 10);
      if ((first && day < first) || (last && day > last)) continue;
      try {
        for await (const l of readLines(join(this.dir, file))) yield { file, line: l.number, bytes: l.bytes, terminated: l.terminated };
      } catch (e) {
        throw new GatewayError('audit_unavailable', `cannot read audit log ${join(this.dir, file)}: ${describeOsError(e)}`, { cause: e });
      }
    }
  }

  async lastLines(instance: string, n: number): Promise<SourceLine[]> {
    const files = await this.#files(instance);
    const out: SourceLine[] = [];
    for (let i = files.length - 1; i >= 0 && out.length < n; i--) {
      const file = files[i]!;
      const fh = await open(join(this.dir, file), 'r');
      try {
        const { size } = await fh.stat();
        for await (const l of readLinesBackward(fh, size)) {
          if (!l.terminated) continue; // still being written, or torn
          // Line numbers are not needed by tail; -fromEnd keeps them distinct.
          out.push({ file, line: -l.fromEnd, bytes: l.bytes, terminated: true });
          if (out.length >= n) break;
        }
      } finally {
        await fh.close();
      }
    }
    return out.reverse();
  }

  async checkpoints(instance: string): Promise<{ where: string; list: string[] }> {
    const name = checkpointFileName(instance);
    const list: string[] = [];
    try {
      for await (const l of readLines(join(this.dir, name))) {
        const jws = checkpointOfLine(l.bytes);
        if (jws) list.push(jws); // a torn last line (crash mid-append) is not a checkpoint
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new GatewayError('audit_unavailable', `cannot read audit checkpoints ${join(this.dir, name)}: ${describeOsError(e)}`, { cause: e });
      }
    }
    return { where: name, list };
  }

  async end(instance: string): Promise<ChainCursor> {
    const file = (await this.#files(instance)).at(-1);
    if (!file) return { offset: 0 };
    const path = join(this.dir, file);
    const { size } = await stat(path);
    // An unterminated last line is not a record yet: follow from its beginning.
    const fh = await open(path, 'r');
    try {
      for await (const l of readLinesBackward(fh, size)) return { file, offset: l.terminated ? size : size - l.bytes.length };
      return { file, offset: size };
    } finally {
      await fh.close();
    }
  }

  async after(instance: string, cursor: ChainCursor = { offset: 0 }): Promise<{ lines: SourceLine[]; cursor: ChainCursor }> {
    if ('seq' in cursor) throw new Error('a file chain cursor has a file and an offset');
    let { file, offset } = cursor;
    const lines: SourceLine[] = [];
    for (;;) {
      if (file) {
        const path = join(this.dir, file);
        const size = (await stat(path)).size;
        if (size > offset) {
          for await (const l of readLines(path, offset)) {
            if (!l.terminated) break; // wait for the rest of it
            offset += l.bytes.length + 1;
            lines.push({ file, line: 0, bytes: l.bytes, terminated: true });
          }
        }
      }
      if (lines.length) break;
      // Move to the next day's file only once the current one has nothing new.
      const next = (await this.#files(instance)).find((f) => file === undefined || f > file);
      if (!next) break;
      file = next;
      offset = 0;
    }
    return { lines, cursor: { ...(file ? { file } : {}), offset } };
  }
}

/** `string` is an audit directory. */
export function toSource(source: string | AuditSource): AuditSource {
  return typeof source === 'string' ? new FileAuditSource(source) : source;
}

/**
 * Records of several chains merged by time (then instance), each chain read in its own order: one view
 * of a fleet. Chains are in time order themselves except across a clock step, where a chain's own order wins.
 */
export async function* mergeByTime<T extends { time?: unknown; instance?: unknown }>(streams: AsyncIterable<T>[]): AsyncGenerator<T> {
  const its = streams.map((s) => s[Symbol.asyncIterator]());
  const heads: (T | undefined)[] = await Promise.all(its.map(async (it) => (await it.next()).value as T | undefined));
  try {
    for (;;) {
      let best = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (h === undefined) continue;
        if (best === -1 || String(h.time) < String(heads[best]!.time)) best = i;
      }
      if (best === -1) return;
      yield heads[best]!;
      const next = await its[best]!.next();
      heads[best] = next.done ? undefined : next.value;
    }
  } finally {
    await Promise.all(its.map((it) => it.return?.()));
  }
}
