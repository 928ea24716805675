import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve as resolvePath, sep } from 'node:path';
import type { z } from 'zod';
import { buildRuntimeConfig, fleetDocOf, fleetVersion, formatPath, GatewayConfig, parseFileObject, withFleetDoc, type ConfigStore } from '../config/index.js';
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
  /** hex SHA-256 of the file bytes (fleet mode: naming the store's revision): the version (ETag) every write must name. */
  version: string;
  /** Fleet mode: the store's revision. */
  revision?: number;
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
  return header
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
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

  /** 'store': tools, resources and upstreams are the fleet's, in the shared store (src/config/fleet.ts). */
  get source(): 'file' | 'store' {
    return this.opts.config.source;
  }

  /** Where an edit is written, for audit records: the file, or the store and the revision the edit makes. */
  target(revision?: number): Record<string, unknown> {
    const f = this.opts.config.fleet;
    if (!f) return { file: this.path };
    return { store: f.where, ...(revision !== undefined ? { revision } : {}) };
  }

  /** Is this version (as returned by read or edit) the one in force on this instance? */
  inForce(version: string): boolean {
    const rt = this.opts.config.current;
    return this.source === 'store' ? rt.fleet?.version === version : rt.hash === version;
  }

  /**
   * The config as admins edit it: the file as it is on disk now (not necessarily what is in force:
   * a hand edit may be pending or invalid), with, in fleet mode, the store's tools, resources and
   * upstreams read now, and their version.
   */
  async read(): Promise<ConfigVersion> {
    if (this.source === 'store') {
      const record = await this.opts.config.fleet!.backend.getFleetConfig();
      if (!record)
        throw new GatewayError(
          'internal',
          'the shared store has no fleet config (was it emptied by hand?); restart an instance to seed it from its file, or run `xaa-gateway config import`',
        );
      return { raw: withFleetDoc(await this.#readFileRaw(), record.doc), version: fleetVersion(record), revision: record.revision };
    }
    return this.#readFileVersion();
  }

  async #readFileRaw(): Promise<RawConfig> {
    const text = await readFile(this.path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new GatewayError('internal', `cannot read ${this.path}: ${e.code ?? e.message}`, { cause: e });
    });
    try {
      return parseFileObject(text, this.path);
    } catch (e) {
      throw new GatewayError('admin_conflict', `${this.path} on disk is not a valid JSON object (a hand edit in progress?); fix the file, then retry`, {
        cause: e,
      });
    }
  }

  async #readFileVersion(): Promise<ConfigVersion> {
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
      throw new GatewayError('admin_conflict', `${this.path} on disk is not valid JSON (a hand edit in progress?); fix the file, then retry`, {
        cause: e,
        details: { version },
      });
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new GatewayError('admin_conflict', `${this.path} on disk is not a JSON object; fix the file, then retry`, { details: { version } });
    }
    return { raw: raw as RawConfig, version };
  }

  /** The current version of the file (in fleet mode: of the revision in force here), or undefined when it cannot be read. */
  async version(): Promise<string | undefined> {
    if (this.source === 'store') return this.opts.config.current.fleet?.version;
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
  edit<T>(
    expected: string,
    change: (raw: RawConfig) => T,
    beforeWrite?: (result: T, info: { revision?: number }) => Promise<void>,
  ): Promise<{ result: T; version: string; revision?: number }> {
    if (this.source === 'store') return this.#editStore(expected, change, beforeWrite);
    const run = this.#queue.then(async () => {
      const current = await this.read();
      if (current.version !== expected) {
        throw new GatewayError(
          'admin_conflict',
          'the config changed since you read it (by another admin or a hand edit of mcp.config.json): read it again, reapply your change, and send the new ETag in If-Match',
          {
            details: { version: current.version },
          },
        );
      }
      const next = structuredClone(current.raw);
      const result = change(next);
      const text = JSON.stringify(next, null, 2) + '\n';
      // Checked before validation, which reads the files: an admin cannot point a secret at (or probe for)
      // a file elsewhere on the host. References the operator wrote in the file stay as they are.
      const outside = newSecretFilesOutside(current.raw, next, this.opts.config.current.dir);
      const issues = outside.length ? outside : validateConfig(next, this.path, this.opts.env);
      if (issues.length) {
        throw new GatewayError('admin_invalid', `the change makes the config invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
          details: { issues },
        });
      }
      await beforeWrite?.(result, {});
      await atomicWrite(this.path, text);
      const version = sha256File(text);
      this.opts.config.reload();
      if (!this.inForce(version)) {
        // Only a hand edit racing this very write gets here; the watcher will apply whatever is on disk.
        this.opts.logger.warn('config written but another edit of the file followed at once; the file on disk is what will be in force', { path: this.path });
      }
      return { result, version };
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Fleet mode: the same steps in one store transaction holding the fleet config's lock, so edits
   * through different instances are serialized and each is checked against the revision it read:
   * version check, change, validation (with this instance's file: secret references must be
   * readable here), audit record (fail closed: no record, no change), new revision + NOTIFY at
   * commit, then in force here before the response; the other instances follow by NOTIFY.
   */
  async #editStore<T>(
    expected: string,
    change: (raw: RawConfig) => T,
    beforeWrite?: (result: T, info: { revision?: number }) => Promise<void>,
  ): Promise<{ result: T; version: string; revision: number }> {
    const fleet = this.opts.config.fleet!;
    const fileRaw = await this.#readFileRaw();
    const { record, result } = await fleet.backend.updateFleetConfig(async (current) => {
      const version = current ? fleetVersion(current) : undefined;
      if (!current || version !== expected) {
        throw new GatewayError(
          'admin_conflict',
          `the config changed since you read it (another admin, through this or another instance; the shared store is at revision ${current?.revision ?? 0}): read it again, reapply your change, and send the new ETag in If-Match`,
          {
            details: { ...(version ? { version } : {}), revision: current?.revision ?? 0 },
          },
        );
      }
      const next = structuredClone(withFleetDoc(fileRaw, current.doc));
      const result = change(next);
      const outside = newSecretFilesOutside(current.doc, fleetDocOf(next), this.opts.config.current.dir);
      const issues = outside.length ? outside : validateConfig(next, this.path, this.opts.env);
      if (issues.length) {
        throw new GatewayError('admin_invalid', `the change makes the config invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
          details: { issues },
        });
      }
      await beforeWrite?.(result, { revision: current.revision + 1 });
      return { doc: fleetDocOf(next), result };
    }, 'admin edit');
    this.opts.config.applyFleet(record);
    const version = fleetVersion(record);
    if (!this.inForce(version)) {
      this.opts.logger.warn('config revision written to the shared store but not in force on this instance (see the error logged above)', {
        revision: record.revision,
      });
    }
    return { result, version, revision: record.revision };
  }
}

/**
 * A `{"file": ...}` secret reference an admin edit adds must stay inside the config directory, where the
 * operator keeps the secret files next to mcp.config.json: the admin API is not a way to read (or probe
 * for) any file the gateway's user can read, such as a private key or /etc/shadow. In a fleet every
 * instance reads the reference on its own machine, one more reason. References already in the config
 * (written by the operator, or seeded or imported from an operator's file) stay as they are. Checked
 * before validation, which reads the files.
 */
export function newSecretFilesOutside(before: unknown, after: unknown, configDir: string): ConfigIssue[] {
  const known = new Set(secretFiles(before, '').map((r) => r.file));
  const root = resolvePath(configDir);
  return secretFiles(after, '')
    .filter((r) => !known.has(r.file))
    .filter((r) => {
      const abs = resolvePath(root, r.file);
      return abs !== root && !abs.startsWith(root.endsWith(sep) ? root : root + sep);
    })
    .map((r) => ({
      path: r.path,
      message: `secret file "${r.file}" is outside the config directory ${root}: an admin edit may only name secret files in that directory (a relative path) or environment variables ({"env": ...}); put the file there, or write the reference into mcp.config.json by hand`,
    }));
}

function secretFiles(value: unknown, path: string): Array<{ path: string; file: string }> {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => secretFiles(v, `${path}[${i}]`));
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === 'file' && typeof (value as { file: unknown }).file === 'string')
    return [{ path, file: (value as { file: string }).file }];
  return Object.entries(value).flatMap(([k, v]) => secretFiles(v, path ? `${path}.${k}` : k));
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
      out.push(
        ...structuredIssues(
          issue.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a)),
          path,
        ),
      );
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
