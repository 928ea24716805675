import type { RuntimeConfig } from '../config/index.js';
import type { ScimClientConfig } from '../config/schema.js';
import { readSecret } from '../config/secrets.js';
import { GatewayError } from '../errors.js';

/** One SCIM connection as the receiver uses it: its token read, the IdP its users belong to. */
export interface ScimClient {
  name: string;
  token: string;
  /** The IdP issuer of the users it provisions (idp.issuer): the `iss` of their kill switches. */
  issuer: string;
  subject: ScimClientConfig['subject'];
  accessGroups: string[];
}

/** A SCIM token is a long-lived credential that can lock users out: as long as admin tokens. */
export const MIN_TOKEN_LENGTH = 32;

/** undefined when the config has no `scim` section. Throws config errors that name the path. */
export function resolveScimClients(runtime: RuntimeConfig, env: NodeJS.ProcessEnv = process.env): ScimClient[] | undefined {
  const scim = runtime.config.scim;
  if (!scim) return undefined;
  const ctx = { baseDir: runtime.dir, env };
  const tokens = new Map<string, string>();
  return scim.clients.map((c, i) => {
    const where = `scim.clients[${i}].token`;
    const token = readSecret(c.token, where, ctx);
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new GatewayError(
        'config_invalid',
        `${where}: the token is ${token.length} characters; use at least ${MIN_TOKEN_LENGTH} (\`openssl rand -base64 32\`)`,
      );
    }
    const other = tokens.get(token);
    if (other !== undefined) throw new GatewayError('config_invalid', `${where}: the same token as ${other}; give each SCIM client its own`);
    tokens.set(token, where);
    return { name: c.name, token, issuer: runtime.config.idp.issuer, subject: c.subject, accessGroups: c.accessGroups };
  });
}
