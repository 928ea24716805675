import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditFileHandle, AuditFs } from '../../src/audit/fs.js';
import { nodeAuditFs } from '../../src/audit/fs.js';
import type { AuditEvent } from '../../src/audit/types.js';

const made: string[] = [];

export async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'xaa-audit-test-'));
  made.push(d);
  return d;
}

export async function cleanup(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** A settable clock for deps.now. */
export function clock(iso: string) {
  let t = Date.parse(iso);
  return {
    now: () => t,
    set: (next: string) => {
      t = Date.parse(next);
    },
  };
}

export function ev(i: number, extra: Partial<AuditEvent> = {}): AuditEvent {
  return { type: 'tool_call', phase: 'decision', traceId: `t${i}`, tool: `tool-${i}`, decision: 'allow', ...extra };
}

export async function copyDir(src: string): Promise<string> {
  const dst = await tempDir();
  await cp(src, dst, { recursive: true });
  return dst;
}

export async function readLinesOf(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  return text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
}

export async function editLines(path: string, edit: (lines: string[]) => string[]): Promise<void> {
  const lines = edit(await readLinesOf(path));
  await writeFile(path, lines.map((l) => `${l}\n`).join(''));
}

export interface FaultyFs extends AuditFs {
  /** Set to make the next writes fail: 'all' writes nothing, 'half' writes half the bytes first. */
  failWrite?: { error: NodeJS.ErrnoException; mode: 'all' | 'half' };
  failSync?: NodeJS.ErrnoException;
  failTruncate?: NodeJS.ErrnoException;
  /** Opening a file for writing fails (a read-only file system: EROFS). */
  failOpen?: NodeJS.ErrnoException;
  /** When set, file fsyncs wait for it (to hold a round open). */
  syncGate?: Promise<void>;
  writes: number;
  /** fsyncs of audit files (not of the directory). */
  fileSyncs: number;
}

export function osError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/** Real fs, with switchable faults and counters. */
export function faultyFs(): FaultyFs {
  const fs: FaultyFs = {
    writes: 0,
    fileSyncs: 0,
    mkdir: nodeAuditFs.mkdir,
    readdir: nodeAuditFs.readdir,
    unlink: nodeAuditFs.unlink,
    async open(path, flags, mode) {
      if (fs.failOpen && flags !== 'r') throw fs.failOpen;
      const real = await nodeAuditFs.open(path, flags, mode);
      const isFile = flags !== 'r'; // files opened to write (audit files, the readiness probe), not the directory
      // fsync or fdatasync of a file: counted, held at syncGate, failed with failSync.
      const faultySync = async (sync: () => Promise<void>) => {
        if (isFile) {
          fs.fileSyncs++;
          if (fs.syncGate) await fs.syncGate;
          if (fs.failSync) throw fs.failSync;
        }
        return sync();
      };
      const handle: AuditFileHandle = {
        read: (b, o, l, p) => real.read(b, o, l, p),
        stat: () => real.stat(),
        truncate: (len) => (fs.failTruncate ? Promise.reject(fs.failTruncate) : real.truncate(len)),
        close: () => real.close(),
        async write(buf, off, len, pos) {
          fs.writes++;
          const f = fs.failWrite;
          if (f) {
            if (f.mode === 'half') await real.write(buf, off, Math.floor(len / 2), pos);
            throw f.error;
          }
          return real.write(buf, off, len, pos);
        },
        sync: () => faultySync(() => real.sync()),
        datasync: () => faultySync(() => real.datasync()),
      };
      return handle;
    },
  };
  return fs;
}
