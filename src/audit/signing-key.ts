import { randomUUID } from 'node:crypto';
import { link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { z } from 'zod';
import { GatewayError } from '../errors.js';

/**
 * The audit signing key: Ed25519, used for nothing but checkpoints (never the token signing key, so a
 * leak of one does not forge the other). Kept in a file of its own, mode 0600, outside the audit
 * directory and the database: whoever can rewrite the records should not also hold what signs their
 * heads. Rotation keeps the retired keys' public halves in the file, so older checkpoints still verify.
 */
export const AUDIT_KEY_ALG = 'EdDSA';
/** The key file's default name (in server.dataDir, or beside the credentials file). */
export const AUDIT_KEY_FILE = 'audit-signing-key.json';

const PublicJwk = z.looseObject({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string().min(1), kid: z.string().min(1) });
const KeyFile = z.strictObject({
  /** The key that signs now. */
  active: z.strictObject({
    kid: z.string().min(1),
    createdAt: z.string(),
    privateJwk: z.looseObject({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), d: z.string().min(1), x: z.string().min(1) }),
  }),
  /** Public halves of every key, the active one included, newest first. */
  public: z.array(z.strictObject({ createdAt: z.string(), retiredAt: z.string().optional(), jwk: PublicJwk })),
});
type KeyFileData = z.infer<typeof KeyFile>;

/** A JWKS of audit keys (public only): what `audit keys` prints and /.well-known/xaa-audit-keys serves. */
export interface AuditJwks {
  keys: (JWK & { kid: string; alg: typeof AUDIT_KEY_ALG; use: 'sig' })[];
}

export class AuditSigningKey {
  private constructor(
    readonly path: string,
    readonly kid: string,
    readonly privateKey: CryptoKey,
    readonly jwks: AuditJwks,
  ) {}

  /** Read the key file, creating it (and its directory, 0700) with a fresh key when it does not exist. */
  static async load(path: string, now: () => number = Date.now): Promise<AuditSigningKey> {
    let data = await readKeyFile(path);
    if (!data) {
      // Two gateways starting at once (desktop clients sharing a config): one key wins, both use it.
      if (!(await writeKeyFile(path, await newKeyData(now, undefined), { exclusive: true }))) data = await readKeyFile(path);
      else data = await readKeyFile(path);
    }
    if (!data) throw new GatewayError('config_invalid', `cannot create the audit signing key ${path}`);
    return AuditSigningKey.#from(path, data);
  }

  /** A new active key; the previous one's public half stays (retired) for verifying its checkpoints. */
  static async rotate(path: string, now: () => number = Date.now): Promise<AuditSigningKey> {
    const data = await newKeyData(now, await readKeyFile(path));
    await writeKeyFile(path, data);
    return AuditSigningKey.#from(path, data);
  }

  static async #from(path: string, data: KeyFileData): Promise<AuditSigningKey> {
    const privateKey = (await importJWK({ ...data.active.privateJwk, alg: AUDIT_KEY_ALG }, AUDIT_KEY_ALG)) as CryptoKey;
    return new AuditSigningKey(path, data.active.kid, privateKey, { keys: data.public.map((p) => ({ ...p.jwk, alg: AUDIT_KEY_ALG, use: 'sig' as const })) });
  }
}

/** The public keys of a key file (for `audit verify` on this host), or undefined when there is none. */
export async function readAuditPublicKeys(path: string): Promise<AuditJwks | undefined> {
  const data = await readKeyFile(path);
  return data ? { keys: data.public.map((p) => ({ ...p.jwk, alg: AUDIT_KEY_ALG, use: 'sig' as const })) } : undefined;
}

/** A JWKS given to `audit verify --keys`: checked, so a wrong file is named rather than every signature failing. */
export function parseAuditJwks(text: string, where: string): AuditJwks {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new GatewayError('config_invalid', `${where}: not JSON (${(e as Error).message}); expected {"keys": [...]} as printed by \`xaa-gateway audit keys\``);
  }
  const parsed = z
    .strictObject({ keys: z.array(PublicJwk).min(1) })
    .loose()
    .safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new GatewayError(
      'config_invalid',
      `${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}; expected Ed25519 public keys with a kid, as printed by \`xaa-gateway audit keys\``,
    );
  }
  return { keys: parsed.data.keys.map((k) => ({ ...k, alg: AUDIT_KEY_ALG, use: 'sig' as const })) };
}

async function newKeyData(now: () => number, previous: KeyFileData | undefined): Promise<KeyFileData> {
  const { privateKey } = await generateKeyPair(AUDIT_KEY_ALG, { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = `audit-${new Date(now()).toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`;
  const createdAt = new Date(now()).toISOString();
  const { d: _d, ...pub } = jwk;
  return {
    active: { kid, createdAt, privateJwk: jwk as KeyFileData['active']['privateJwk'] },
    public: [
      { createdAt, jwk: { ...pub, kid } as z.infer<typeof PublicJwk> },
      ...(previous?.public ?? []).map((p) => (p.jwk.kid === previous?.active.kid ? { ...p, retiredAt: createdAt } : p)),
    ],
  };
}

async function readKeyFile(path: string): Promise<KeyFileData | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new GatewayError('config_invalid', `cannot read the audit signing key ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return KeyFile.parse(JSON.parse(text));
  } catch (e) {
    throw new GatewayError(
      'config_invalid',
      `the audit signing key ${path} is not a key file this gateway wrote (${(e as Error).message.slice(0, 200)}); restore it from a backup, or move it away to start a new key (earlier checkpoints then need its public keys: \`audit verify --keys\`)`,
      { cause: e },
    );
  }
}

/**
 * Written to a temporary file, fsync'd, then renamed over the key file (rotation) or hard-linked to its
 * name (`exclusive`: the first key; false when another process created it first). A crash never leaves
 * half a key.
 */
async function writeKeyFile(path: string, data: KeyFileData, opts: { exclusive?: boolean } = {}): Promise<boolean> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(data, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (!opts.exclusive) {
    await rename(tmp, path);
    return true;
  }
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}
