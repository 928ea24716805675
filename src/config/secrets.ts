import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { JWK } from 'jose';
import { GatewayError } from '../errors.js';
import type { ClientCredentials, ResolvedClientAuth } from '../xaa/types.js';
import type { ClientAuth, SecretRef } from './schema.js';

export interface SecretContext {
  /** Directory of the config file: relative secret files resolve against it. */
  baseDir: string;
  env: NodeJS.ProcessEnv;
}

/** Reads one secret. Errors name the config path and the fix, never the value. */
export function readSecret(ref: SecretRef, where: string, ctx: SecretContext): string {
  if ('env' in ref) {
    const value = ctx.env[ref.env];
    if (value === undefined || value === '') {
      throw new GatewayError('config_secret', `${where}: environment variable ${ref.env} is not set; export it before starting the gateway`);
    }
    return value;
  }
  const file = isAbsolute(ref.file) ? ref.file : resolve(ctx.baseDir, ref.file);
  try {
    const value = readFileSync(file, 'utf8').trim();
    if (!value) throw new Error('file is empty');
    return value;
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new GatewayError('config_secret', `${where}: cannot read secret file ${file} (${reason}); create it or fix the path`, { cause: e });
  }
}

export function resolveClientAuth(auth: ClientAuth, where: string, ctx: SecretContext): ResolvedClientAuth {
  if (auth.method === 'private_key_jwt') {
    const raw = readSecret(auth.privateKey, `${where}.privateKey`, ctx);
    let key: JWK | string = raw;
    if (raw.startsWith('{')) {
      try {
        key = JSON.parse(raw) as JWK;
      } catch (e) {
        throw new GatewayError('config_secret', `${where}.privateKey: the secret is neither a JSON JWK nor a PEM key`, { cause: e });
      }
      if (!(key as JWK).d) throw new GatewayError('config_secret', `${where}.privateKey: the JWK has no private part ("d"); give the private key`);
    } else if (!raw.includes('-----BEGIN PRIVATE KEY-----')) {
      throw new GatewayError('config_secret', `${where}.privateKey: expected a private JWK (JSON) or a PKCS#8 PEM key`);
    }
    return { method: 'private_key_jwt', privateKey: key, alg: auth.alg, kid: auth.kid ?? (typeof key === 'object' ? key.kid : undefined) };
  }
  return { method: auth.method, clientSecret: readSecret(auth.clientSecret, `${where}.clientSecret`, ctx) };
}

export function resolveClient(client: { clientId: string; auth: ClientAuth }, where: string, ctx: SecretContext): ClientCredentials {
  return { clientId: client.clientId, auth: resolveClientAuth(client.auth, `${where}.auth`, ctx) };
}
