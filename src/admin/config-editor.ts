import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { z } from 'zod';
import { buildRuntimeConfig, formatPath, GatewayConfig, type ConfigStore } from '../config/index.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';

/** mcp.config.json as written: `$schema`, secret references and omitted defaults kept as they are. */
export type RawConfig = Record<string, unknown>;

export interface ConfigIssue {
  /** JSON path in mcp.config.json, e.g. `tools[3].scopes[0]`. */
  path: string;
  message: string;
}

export interface ConfigVersion {
  raw: RawConfig;
  /** hex SHA-256 of the file bytes: the version (ETag) every write must name. */
  version: string;
}

export interface ConfigEditorOptions {
  config: ConfigStore;
  logger: Logger;
  /** Environment that secret references resolve against (default process.env, like ConfigStore). */
  env?: NodeJS.ProcessEnv;
}

export const sha256File = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** `"<hex>"` as sent in ETag; If-Match may also come unquoted or weak-prefixed. */
export const etagOf = (version: string) => `"${version}"`;
export function parseIfMatch(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  return header.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/**
 * Edits mcp.config.json on behalf of the admin API so the file stays the source of truth:
 * every write is a read-modify-write of the file's own JSON, serialized in this process, checked
 * under the lock against the version the admin read (a hand edit changes the hash, so a stale
 * write is refused with 409 instead of silently undoing it), validated exactly as a reload would
 * be, written atomically (temp file in the same directory, fsync, rename, fsync of the directory),
 * then applied to the running gateway with ConfigStore.reload() before the response. The
 * watcher's own reload of that rename then finds the same hash and does nothing; a hand edit
 * after it is picked up by the watcher as before.
 */
export class ConfigEditor {
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: ConfigEditorOptions) {}

  get path(): string {
    return this.opts.config.current.path;
  }

  /** The file as it is on disk now (not necessarily what is in force: a hand edit may be pending or invalid). */
  async read(): Promise<ConfigVersion> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (e) {
      throw new GatewayError('internal', `cannot read ${this.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    const version = sha256File(bytes);
    let raw: unknown;
    try {
      raw = JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      throw new GatewayError('admin_conflict', `${this.path} on disk is not valid JSON (a hand edit in progress?); fix the file, then retry`, { cause: e, details: { version } });
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new GatewayError('admin_conflict', `${this.path} on disk is not a JSON object; fix the file, then retry`, { details: { version } });
    }
    return { raw: raw as RawConfig, version };
  }

  /** The current version of the file, or undefined when it cannot be read. */
  async version(): Promise<string | undefined> {
    try {
      return sha256File(await readFile(this.path));
    } catch {
      return undefined;
    }
  }

  /**
   * Applies `change` to the file's JSON if the file is still at `expected`. `change` mutates the
   * copy it is given (throwing GatewayError admin_* to refuse) and returns what the caller needs;
   * `beforeWrite` runs after validation and before the file is written (the audit record: fail
   * closed). Errors: admin_conflict (stale version), admin_invalid with `details.issues`.
   */
  edit<T>(expected: string, change: (raw: RawConfig) => T, beforeWrite?: (result: T) => Promise<void>): Promise<{ result: T; version: string }> {
    const run = this.#queue.then(async () => {
      const current = await this.read();
      if (current.version !== expected) {
        throw new GatewayError('admin_conflict', 'the config changed since you read it (by another admin or a hand edit of mcp.config.json): read it again, reapply your change, and send the new ETag in If-Match', {
          details: { version: current.version },
        });
      }
      const next = structuredClone(current.raw);
      const result = change(next);
      const text = JSON.stringify(next, null, 2) + '\n';
      const issues = validateConfig(next, this.path, this.opts.env);
      if (issues.length) {
        throw new GatewayError('admin_invalid', `the change makes the config invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { details: { issues } });
      }
      await beforeWrite?.(result);
      await atomicWrite(this.path, text);
      const version = sha256File(text);
      this.opts.config.reload();
      if (this.opts.config.current.hash !== version) {
        // Only a hand edit racing this very write gets here; the watcher will apply whatever is on disk.
        this.opts.logger.warn('config written but another edit of the file followed at once; the file on disk is what will be in force', { path: this.path });
      }
      return { result, version };
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** Every problem a reload would report, as `{ path, message }`: schema, cross-references, input schemas, secrets. */
export function validateConfig(raw: unknown, path: string, env: NodeJS.ProcessEnv = process.env): ConfigIssue[] {
  const parsed = GatewayConfig.safeParse(raw);
  if (!parsed.success) return structuredIssues(parsed.error.issues);
  try {
    buildRuntimeConfig(raw, path, 'validation', env);
    return [];
  } catch (e) {
    if (!isGatewayError(e)) throw e;
    const lines = Array.isArray(e.details?.issues) ? (e.details.issues as string[]) : [e.message];
    return lines.map(splitLine);
  }
}

/** `path: message` lines of buildRuntimeConfig (paths there are plain identifiers and indexes). */
function splitLine(line: string): ConfigIssue {
  const m = /^([A-Za-z0-9_$.[\]"-]+): ([\s\S]*)$/.exec(line);
  return m ? { path: m[1]!, message: m[2]! } : { path: '(root)', message: line };
}

/** zod issues with their JSON paths; a union reports its most specific branch (as `config check` does). */
function structuredIssues(issues: ReadonlyArray<z.core.$ZodIssue>, base: PropertyKey[] = []): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0 && !issue.message.includes('secret')) {
      const depth = (list: ReadonlyArray<z.core.$ZodIssue>) => Math.max(0, ...list.map((i) => i.path.length));
      out.push(...structuredIssues(issue.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a)), path));
      continue;
    }
    if (issue.code === 'unrecognized_keys') {
      out.push({ path: formatPath(path), message: `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}; check the spelling or remove them` });
      continue;
    }
    out.push({ path: formatPath(path), message: issue.message });
  }
  return out;
}

/** Crash-safe replace: the file is either the old bytes or the new ones, never a mix (POSIX rename). */
export async function atomicWrite(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let mode = 0o644;
  try {
    mode = (await stat(path)).mode & 0o777;
  } catch {
    // new file: default mode
  }
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  // The rename itself is durable only once the directory is synced.
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // some platforms cannot fsync a directory; the rename is still atomic
  }
}
