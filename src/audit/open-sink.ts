import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { openAuditLog } from './file-log.js';
import type { CheckpointingSink } from './checkpoint.js';
import type { AuditJwks } from './signing-key.js';
import { FileAuditSource, type AuditSource } from './source.js';

export type AuditSinkKind = 'file' | 'postgres';

/** audit.sink, defaulting to the fleet's table when there is a DATABASE_URL. */
export function auditSinkKind(configured: AuditSinkKind | undefined, databaseUrl: string | undefined, configPath: string): AuditSinkKind {
  const kind = configured ?? (databaseUrl ? 'postgres' : 'file');
  if (kind === 'postgres' && !databaseUrl) {
    throw new GatewayError('config_invalid', `${configPath}: audit.sink is "postgres" but DATABASE_URL is not set: set it, or use "file" (audit.dir)`);
  }
  return kind;
}

export interface OpenAuditOptions {
  kind: AuditSinkKind;
  /** audit.dir (the file sink). */
  dir: string;
  /** The chain this process writes. */
  instance: string;
  databaseUrl?: string;
  schema?: string;
  deps: Pick<Deps, 'now'>;
  /** File sink: keep the chain's lock this long once idle (see OpenAuditLogOptions.keepLockMs). */
  keepLockMs?: number;
  onWarning?: (message: string) => void;
}

/**
 * The sink this process appends to, and the source that reads every instance's chain where it writes
 * (the directory, or the fleet's table). Close both.
 */
export async function openAudit(
  o: OpenAuditOptions,
): Promise<{ sink: CheckpointingSink & { publishKeys?(jwks: AuditJwks): Promise<void> }; source: AuditSource & { keys?(): Promise<AuditJwks> } }> {
  if (o.kind === 'postgres') {
    const target = { databaseUrl: o.databaseUrl!, ...(o.schema ? { schema: o.schema } : {}) };
    // Loaded only here: a desktop gateway never loads the PostgreSQL driver.
    const [{ openPgAuditLog }, { PgAuditSource }] = await Promise.all([import('./pg-log.js'), import('./pg-source.js')]);
    const sink = await openPgAuditLog(o.deps, { ...target, instance: o.instance, ...(o.onWarning ? { onWarning: o.onWarning } : {}) });
    return { sink, source: new PgAuditSource(target) };
  }
  const sink = await openAuditLog(o.dir, o.deps, {
    instance: o.instance,
    ...(o.keepLockMs !== undefined ? { keepLockMs: o.keepLockMs } : {}),
    ...(o.onWarning ? { onWarning: o.onWarning } : {}),
  });
  return { sink, source: new FileAuditSource(o.dir) };
}
