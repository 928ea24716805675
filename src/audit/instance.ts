import { hostname } from 'node:os';
import { GatewayError } from '../errors.js';
import { INSTANCE_RE } from '../config/schema.js';

/**
 * The name a `serve` instance writes its audit chain as: XAA_INSTANCE_ID, else `audit.instance`, else the
 * host name (a container's, a VM's), made a valid name. It must be stable across restarts (a restarted
 * instance continues its chain and records "outcome unknown" for calls its previous run left open) and
 * distinct per live instance (two live instances with one name take turns on one chain: correct, slower).
 */
export function auditInstanceName(configured: string | undefined, env: string | undefined = process.env.XAA_INSTANCE_ID, host: string = hostname()): string {
  const explicit = env?.trim() || configured;
  if (explicit !== undefined) {
    if (!INSTANCE_RE.test(explicit)) {
      throw new GatewayError(
        'config_invalid',
        `${env?.trim() ? 'XAA_INSTANCE_ID' : 'audit.instance'} "${explicit}" is not a valid instance name: 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit`,
      );
    }
    return explicit;
  }
  const fromHost = host
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 100);
  return fromHost || 'gateway';
}
