import { SecretRef } from './schema.js';
import { readSecret } from './secrets.js';
import type { RuntimeConfig } from './load.js';

/**
 * `config check`: every secret reference in the config, wherever it sits (server, admin, ssf,
 * observability... sections whose secrets are only read when `serve` starts), must be readable now,
 * so a missing file or unset variable is found before a deployment rather than at start. Throws the
 * first failure, naming its JSON path (GatewayError `config_secret`). Returns how many were read.
 */
export function checkAllSecrets(rt: RuntimeConfig, env: NodeJS.ProcessEnv = process.env): number {
  let count = 0;
  const walk = (value: unknown, path: string): void => {
    if (value === null || typeof value !== 'object') return;
    const ref = SecretRef.safeParse(value);
    if (ref.success) {
      readSecret(ref.data, path, { baseDir: rt.dir, env });
      count++;
      return;
    }
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
    else for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
  };
  walk(rt.config, '');
  return count;
}
