import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { RuntimeConfig } from '../config/load.js';
import { AUDIT_KEY_FILE, readAuditPublicKeys, type AuditJwks } from './signing-key.js';

/**
 * Where this host keeps audit signing keys for a config: audit.signingKeyFile, else serve's
 * (server.dataDir) and the desktop gateway's (beside the credentials file).
 */
export function auditKeyFiles(rt: Pick<RuntimeConfig, 'dir' | 'config'> | undefined, credentialsPath: string): string[] {
  const beside = join(dirname(credentialsPath), AUDIT_KEY_FILE);
  if (!rt) return [beside];
  if (rt.config.audit.signingKeyFile) return [resolve(rt.dir, rt.config.audit.signingKeyFile)];
  const dataDir = rt.config.server?.dataDir;
  return [...(dataDir ? [join(isAbsolute(dataDir) ? dataDir : resolve(rt.dir, dataDir), AUDIT_KEY_FILE)] : []), beside];
}

/** The public keys in those files (merged by kid), and which files had them. */
export async function localAuditKeys(files: string[]): Promise<{ keys: AuditJwks; from: string[] }> {
  const keys: AuditJwks = { keys: [] };
  const from: string[] = [];
  for (const f of files) {
    const k = await readAuditPublicKeys(f).catch(() => undefined);
    if (!k) continue;
    keys.keys.push(...k.keys.filter((x) => !keys.keys.some((y) => y.kid === x.kid)));
    from.push(f);
  }
  return { keys, from };
}
