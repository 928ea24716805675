import { access, constants, stat } from 'node:fs/promises';
import type { ConfigStore } from '../../config/index.js';
import type { Store } from '../../store/types.js';

export type ReadinessCheck = 'config' | 'store' | 'audit' | 'draining';

export interface Readiness {
  ready: boolean;
  /** Each check and "ok" or why it failed (no secrets). */
  checks: Partial<Record<ReadinessCheck, string>>;
  /** The first failing check. */
  failing?: ReadinessCheck;
}

const CHECK_TIMEOUT_MS = 2_000;

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
    }),
  ]);
}

/**
 * `/readyz`: may this instance take traffic? The config has a `server` section, the store answers
 * a query, and the audit directory is a writable directory (calls fail closed without it).
 */
export async function readiness(opts: { config: ConfigStore; store: Store; draining: boolean }): Promise<Readiness> {
  const checks: Readiness['checks'] = {};
  if (opts.draining) checks.draining = 'shutting down';
  checks.config = opts.config.current.config.server ? 'ok' : 'the config has no "server" section';
  try {
    await bounded(opts.store.isAccessTokenRevoked('readyz-probe'), 'the store');
    checks.store = 'ok';
  } catch (e) {
    checks.store = `unreachable: ${(e as Error).message}`.slice(0, 200);
  }
  const dir = opts.config.current.auditDir;
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) throw new Error(`${dir} is not a directory`);
    await access(dir, constants.W_OK);
    checks.audit = 'ok';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    checks.audit = `not writable: ${code ? `${dir}: ${code}` : (e as Error).message}`;
  }
  const failing = (Object.keys(checks) as ReadinessCheck[]).find((k) => checks[k] !== 'ok');
  return { ready: !failing, checks, ...(failing ? { failing } : {}) };
}
