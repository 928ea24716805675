import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { validateInputSchema } from '../json-schema/arguments.js';
import { GatewayError } from '../errors.js';
import type { ClientCredentials } from '../xaa/types.js';
import { formatIssues } from './errors.js';
import { GatewayConfig } from './schema.js';
import { readSecret, resolveClient, type SecretContext } from './secrets.js';

/** A parsed, validated, frozen config with its secrets resolved. Replaced whole on reload, never mutated. */
export interface RuntimeConfig {
  readonly path: string;
  readonly dir: string;
  /** SHA-256 of the file bytes: the version used to detect concurrent edits. */
  readonly hash: string;
  readonly config: Readonly<GatewayConfig>;
  readonly idpClient: ClientCredentials;
  readonly resourceClients: ReadonlyMap<string, ClientCredentials>;
  readonly upstreamClients: ReadonlyMap<string, ClientCredentials>;
  /** `server.clients[].clientSecret` resolved, by client id (confidential pre-registered MCP clients). */
  readonly serverClientSecrets: ReadonlyMap<string, string>;
  /** `server.encryptionKey` resolved; undefined without a `server` section. */
  readonly encryptionKey?: string;
  /** Absolute audit directory. */
  readonly auditDir: string;
  /**
   * Set when tools, resources and upstreams come from the store shared by a fleet (DATABASE_URL):
   * the revision in force and its version (the ETag of admin edits). Absent: the file is the source.
   */
  readonly fleet?: FleetInForce;
}

export interface FleetInForce {
  revision: number;
  /** hex SHA-256 naming this revision (the ETag admin edits must send in If-Match). */
  version: string;
  /** Where it is kept, for people: "PostgreSQL at db:5432/xaa" (never a password). */
  where: string;
  updatedAt: number;
  updatedBy: string;
}

export const DEFAULT_CONFIG_FILE = 'mcp.config.json';

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const abs = resolve(path);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GatewayError(
      'config_invalid',
      code === 'ENOENT'
        ? `config file ${abs} not found; create it (see docs/configuration.md) or pass --config <file>`
        : `cannot read config file ${abs}: ${code ?? (e as Error).message}`,
      { cause: e },
    );
  }
  return parseConfigText(text, abs, env);
}

export function parseConfigText(text: string, path: string, env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new GatewayError('config_invalid', `${path}: not valid JSON: ${describeJsonError(text, e as Error)}`, { cause: e });
  }
  return buildRuntimeConfig(json, path, createHash('sha256').update(text).digest('hex'), env);
}

export function buildRuntimeConfig(json: unknown, path: string, hash: string, env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const parsed = GatewayConfig.safeParse(json);
  const lines = parsed.success ? inputSchemaProblems(parsed.data) : formatIssues(parsed.error.issues);
  if (!parsed.success || lines.length) {
    throw new GatewayError('config_invalid', `${path}: ${lines.length} error(s):\n  ${lines.join('\n  ')}`, {
      details: { issues: lines },
    });
  }
  const config = deepFreeze(parsed.data);
  const dir = dirname(path);
  const ctx: SecretContext = { baseDir: dir, env };
  const resourceClients = new Map<string, ClientCredentials>();
  for (const [name, r] of Object.entries(config.resources)) {
    resourceClients.set(name, resolveClient(r.client, `resources.${name}.client`, ctx));
  }
  const upstreamClients = new Map<string, ClientCredentials>();
  config.upstreams.forEach((u, i) => upstreamClients.set(u.name, resolveClient(u.client, `upstreams[${i}].client`, ctx)));
  const serverClientSecrets = new Map<string, string>();
  config.server?.clients.forEach((cl, i) => {
    if (cl.clientSecret) serverClientSecrets.set(cl.clientId, readSecret(cl.clientSecret, `server.clients[${i}].clientSecret`, ctx));
  });
  return Object.freeze({
    path,
    dir,
    hash,
    config,
    idpClient: resolveClient({ clientId: config.idp.clientId, auth: config.idp.auth }, 'idp', ctx),
    resourceClients,
    upstreamClients,
    serverClientSecrets,
    ...(config.server ? { encryptionKey: readSecret(config.server.encryptionKey, 'server.encryptionKey', ctx) } : {}),
    auditDir: isAbsolute(config.audit.dir) ? config.audit.dir : resolve(dir, config.audit.dir),
  });
}

/** Each tool's inputSchema must itself be a JSON Schema the gateway can validate arguments with. */
function inputSchemaProblems(config: GatewayConfig): string[] {
  return config.tools.flatMap((tool, i) => {
    const problem = validateInputSchema(tool.inputSchema);
    return problem ? [`tools[${i}].inputSchema: ${problem}`] : [];
  });
}

function describeJsonError(text: string, e: Error): string {
  const m = /position (\d+)/.exec(e.message);
  if (!m) return e.message;
  const pos = Number(m[1]);
  const before = text.slice(0, pos).split('\n');
  return `${e.message.replace(/ in JSON at position \d+.*/, '')} at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
