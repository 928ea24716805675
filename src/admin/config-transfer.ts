/**
 * `xaa-gateway config export | import | check` against the fleet's shared store: move the
 * admin-editable sections (tools, resources, upstreams) between a config file and the store, and
 * say which source is in force. The store is opened as `serve` opens it (same encryption key check,
 * same migrations); secrets are never printed.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { auditInstanceName } from '../audit/instance.js';
import { auditSinkKind, openAudit } from '../audit/open-sink.js';
import { checkAllSecrets } from '../config/check.js';
import { composeFleetConfig, fleetDocOf, fleetVersion, loadConfigFile, parseFileObject, withFleetDoc, type RuntimeConfig } from '../config/index.js';
import { recordAdminAction } from '../control/service.js';
import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { fleetDocHash } from '../store/fleet-config.js';
import { describeStoreLocation, openStore, type Store } from '../store/index.js';
import type { FleetConfigDoc, FleetConfigRecord } from '../store/types.js';
import { atomicWrite, validateConfig } from './config-editor.js';

export interface TransferOptions {
  /** The config file (--config): instance settings, the encryption key, and the sections to import / export into. */
  configPath: string;
  /** DATABASE_URL; without it `embedded` must be set. */
  databaseUrl?: string;
  /** Use the embedded store in server.dataDir (only while no gateway runs on it: PGlite is one process). */
  embedded?: boolean;
  schema?: string;
  env?: NodeJS.ProcessEnv;
  deps: Pick<Deps, 'now'>;
}

interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

const counts = (doc: FleetConfigDoc) => {
  const n = (k: number, one: string) => `${k} ${one}${k === 1 ? '' : 's'}`;
  return `${n(doc.tools.length, 'tool')}, ${n(Object.keys(doc.resources).length, 'resource')}, ${n(doc.upstreams.length, 'upstream')}`;
};

async function withStore<T>(rt: RuntimeConfig, o: TransferOptions, fn: (store: Store, where: string) => Promise<T>): Promise<T> {
  const server = rt.config.server;
  if (!server || !rt.encryptionKey) {
    throw new GatewayError(
      'config_invalid',
      `${rt.path}: "server" is missing; the store is opened with server.encryptionKey (and server.dataDir for the embedded store)`,
    );
  }
  if (!o.databaseUrl && !o.embedded) {
    throw new GatewayError(
      'config_invalid',
      "which store? set DATABASE_URL to the fleet's PostgreSQL (or pass --embedded for the embedded store in server.dataDir, with no gateway running on it)",
    );
  }
  const location = {
    ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
    dataDir: isAbsolute(server.dataDir) ? server.dataDir : resolve(rt.dir, server.dataDir),
    ...(o.schema ? { schema: o.schema } : {}),
  };
  const store = await openStore({ ...location, encryptionKey: rt.encryptionKey, now: o.deps.now });
  try {
    return await fn(store, describeStoreLocation(location));
  } finally {
    await store.close().catch(() => undefined);
  }
}

/**
 * `config import [file]`: the file's tools, resources and upstreams become the fleet's next
 * revision. The file is validated as `config check` does (secrets readable here), the change is
 * recorded in the audit log (audit.dir of --config; fail closed) under the store's lock, and every
 * running instance applies it at once (NOTIFY) or at its next poll. Returns the exit code.
 */
export async function runConfigImport(o: TransferOptions & { file?: string; ifRevision?: number }, out: Out): Promise<number> {
  const path = resolve(o.file ?? o.configPath);
  // The imported file is validated as `config check` would (secrets readable here); the store, its
  // key and the audit log are those of this host's config (--config).
  const imported = loadConfigFile(path, o.env);
  checkAllSecrets(imported, o.env);
  const rt = path === resolve(o.configPath) ? imported : loadConfigFile(o.configPath, o.env);
  const doc = fleetDocOf(parseFileObject(readFileSync(path, 'utf8'), path));
  return withStore(rt, o, async (store, where) => {
    const before = await store.getFleetConfig();
    if (before && fleetDocHash(doc) === before.hash && o.ifRevision === undefined) {
      out.stdout(
        `nothing to import: the shared store (${where}) already holds these tools, resources and upstreams at revision ${before.revision} (${counts(doc)})`,
      );
      return 0;
    }
    // Written where the fleet's gateways write (their table with DATABASE_URL), as this host's CLI.
    const { sink: audit, source } = await openAudit({
      kind: auditSinkKind(rt.config.audit.sink, o.embedded ? undefined : o.databaseUrl, rt.path),
      dir: rt.auditDir,
      instance: `cli-${auditInstanceName(undefined, '')}`.slice(0, 100),
      ...(o.databaseUrl && !o.embedded ? { databaseUrl: o.databaseUrl } : {}),
      ...(o.schema ? { schema: o.schema } : {}),
      deps: o.deps,
    });
    await source.close?.();
    try {
      const { record, changed } = await store.updateFleetConfig(async (current) => {
        if (o.ifRevision !== undefined && (current?.revision ?? 0) !== o.ifRevision) {
          throw new GatewayError(
            'admin_conflict',
            `the shared store is at revision ${current?.revision ?? 0}, not ${o.ifRevision} (--if-revision): someone changed it; export it, merge, and import again`,
          );
        }
        if (!current || fleetDocHash(doc) !== current.hash) {
          await recordAdminAction(audit, {
            actor: { kind: 'admin', via: 'cli' },
            action: 'config.import',
            target: { store: where, revision: (current?.revision ?? 0) + 1, file: path },
            before: current ? current.doc : null,
            after: doc,
          });
        }
        return { doc, result: undefined };
      }, `config import from ${path}`);
      out.stdout(
        changed
          ? `imported ${counts(doc)} from ${path} into the shared store (${where}): revision ${before?.revision ?? 0} -> ${record.revision}; running instances apply it within a second`
          : `nothing to import: the shared store (${where}) already holds these at revision ${record.revision}`,
      );
      return 0;
    } finally {
      await audit.close().catch(() => undefined);
    }
  });
}

/**
 * `config export [--out <file>|-]`: the store's tools, resources and upstreams written into the
 * config file (other sections and key order kept, atomic replace), into another file, or printed.
 */
export async function runConfigExport(o: TransferOptions & { out?: string }, out: Out): Promise<number> {
  const path = resolve(o.configPath);
  const rt = loadConfigFile(path, o.env);
  return withStore(rt, o, async (store, where) => {
    const record = await store.getFleetConfig();
    if (!record) {
      throw new GatewayError(
        'admin_not_found',
        `the shared store (${where}) has no fleet config yet: the first \`serve\` with DATABASE_URL seeds it from its file, or run \`xaa-gateway config import\``,
      );
    }
    if (o.out === '-') {
      out.stdout(JSON.stringify(record.doc, null, 2));
      out.stderr(`exported revision ${record.revision} of the shared store (${where}): ${counts(record.doc)}`);
      return 0;
    }
    const target = resolve(o.out ?? path);
    const raw = withFleetDoc(parseFileObject(readFileSync(path, 'utf8'), path), record.doc);
    const issues = validateConfig(raw, target, o.env);
    if (issues.length) {
      throw new GatewayError(
        'config_invalid',
        `revision ${record.revision} would not be valid in ${target} on this machine, so nothing was written:\n  ${issues.map((i) => `${i.path}: ${i.message}`).join('\n  ')}\n(\`config export --out -\` prints the sections as they are)`,
      );
    }
    await atomicWrite(target, JSON.stringify(raw, null, 2) + '\n');
    out.stdout(`exported revision ${record.revision} of the shared store (${where}) into ${target}: ${counts(record.doc)}`);
    return 0;
  });
}

/**
 * What `config check` adds with DATABASE_URL: which source is in force for tools, resources and
 * upstreams, and that the store's revision is valid with this file on this machine.
 */
export async function checkFleetSource(rt: RuntimeConfig, o: TransferOptions): Promise<string> {
  return withStore(rt, o, async (store, where) => {
    const record: FleetConfigRecord | undefined = await store.getFleetConfig();
    if (!record) return `config source: ${where} has no fleet config yet; the first \`serve\` seeds it from ${rt.path} (revision 1)`;
    const composed = composeFleetConfig(readFileSync(rt.path, 'utf8'), rt.path, record, where, o.env);
    const secrets = checkAllSecrets(composed, o.env);
    const fileDoc = fleetDocOf(parseFileObject(readFileSync(rt.path, 'utf8'), rt.path));
    const same = fleetDocHash(fileDoc) === record.hash;
    return (
      `config source: tools, resources and upstreams from the shared store (${where}), revision ${record.revision} (version ${fleetVersion(record).slice(0, 12)}): ${counts(record.doc)}, valid here with ${secrets} secrets readable; ` +
      (same
        ? 'the file holds the same sections'
        : "the file's own tools/resources/upstreams differ and are NOT in force (`config export` writes the store's into the file)")
    );
  });
}
