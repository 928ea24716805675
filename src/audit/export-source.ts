import { GatewayError } from '../errors.js';
import { readCheckpoint } from './checkpoint.js';
import { describeOsError } from './fs.js';
import { readLines } from './lines.js';
import { checkpointOfLine, parseLine, type AuditSource, type ChainCursor, type SourceLine } from './source.js';

/**
 * A JSON Lines export (`audit export --format jsonl`: records as stored, then every chain's checkpoints)
 * read back for `audit verify --export`: verification away from the gateway, its disk and its database,
 * with only the export and the pinned public keys. Streams the file once per chain.
 */
export class ExportFileSource implements AuditSource {
  constructor(readonly path: string) {}

  get where(): string {
    return this.path;
  }

  async *#all(): AsyncGenerator<{ line: SourceLine; instance?: string; checkpoint?: string }> {
    try {
      for await (const l of readLines(this.path)) {
        const line = { file: this.path, line: l.number, bytes: l.bytes, terminated: l.terminated };
        const checkpoint = checkpointOfLine(l.bytes);
        if (checkpoint) {
          yield { line, checkpoint };
          continue;
        }
        const r = parseLine(l.bytes);
        yield { line, instance: typeof r?.instance === 'string' ? r.instance : '' };
      }
    } catch (e) {
      throw new GatewayError('audit_unavailable', `cannot read the export ${this.path}: ${describeOsError(e)}`, { cause: e });
    }
  }

  async chains(): Promise<string[]> {
    const names = new Set<string>();
    for await (const x of this.#all()) {
      const instance = x.checkpoint ? readCheckpoint(x.checkpoint)?.claims.instance : x.instance;
      if (instance !== undefined) names.add(instance);
    }
    return [...names].sort();
  }

  async *lines(instance: string): AsyncGenerator<SourceLine> {
    for await (const x of this.#all()) if (!x.checkpoint && x.instance === instance) yield x.line;
  }

  async lastLines(instance: string, n: number): Promise<SourceLine[]> {
    const out: SourceLine[] = [];
    for await (const l of this.lines(instance)) {
      out.push(l);
      if (out.length > n) out.shift();
    }
    return out;
  }

  async end(): Promise<ChainCursor> {
    return { seq: 0 };
  }

  async after(): Promise<{ lines: SourceLine[]; cursor: ChainCursor }> {
    return { lines: [], cursor: { seq: 0 } };
  }

  async checkpoints(instance: string): Promise<{ where: string; list: string[] }> {
    const list: string[] = [];
    for await (const x of this.#all()) if (x.checkpoint && readCheckpoint(x.checkpoint)?.claims.instance === instance) list.push(x.checkpoint);
    return { where: this.path, list };
  }
}

/** Checkpoints a second party kept: any JSON lines with a "checkpoint" JWS (the copy file, the gateway's log lines). */
export async function readCheckpointCopies(path: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const l of readLines(path)) {
      const jws = checkpointOfLine(l.bytes);
      if (jws && readCheckpoint(jws)) out.push(jws);
    }
  } catch (e) {
    throw new GatewayError('config_invalid', `cannot read the checkpoint copy ${path}: ${describeOsError(e)}`, { cause: e });
  }
  return out;
}
