import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { GatewayError } from '../errors.js';

/**
 * The local user's IdP credentials for stdio mode. Held in one file readable only by that user
 * (0600 in a 0700 directory): the refresh token is as sensitive as a password.
 */
export const StoredCredentials = z.object({
  version: z.literal(1),
  issuer: z.string(),
  clientId: z.string(),
  sub: z.string(),
  email: z.string().optional(),
  name: z.string().optional(),
  idToken: z.string(),
  /** Epoch ms of the ID token's `exp`. */
  idTokenExpiresAt: z.number(),
  refreshToken: z.string().optional(),
  savedAt: z.string(),
});
export type StoredCredentials = z.infer<typeof StoredCredentials>;

/** `$XAA_GATEWAY_HOME`, else `$XDG_CONFIG_HOME/xaa-gateway`, else `~/.config/xaa-gateway`. */
export function defaultCredentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XAA_GATEWAY_HOME ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'xaa-gateway');
  return join(base, 'credentials.json');
}

export async function readCredentials(path: string): Promise<StoredCredentials | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new GatewayError('not_signed_in', `cannot read ${path} (${(e as NodeJS.ErrnoException).code}); run \`xaa-gateway login\``, { cause: e });
  }
  const parsed = StoredCredentials.safeParse(JSON.parse(text));
  if (!parsed.success) throw new GatewayError('not_signed_in', `${path} is not a credentials file of this version; run \`xaa-gateway login\` again`);
  return parsed.data;
}

/** Atomic (temp file + rename) so a crash never leaves a half-written credentials file. */
export async function writeCredentials(path: string, creds: StoredCredentials): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(creds, null, 2) + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

export async function deleteCredentials(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}
