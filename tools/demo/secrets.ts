import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { JWK } from 'jose';

/** Absolute path of tools/demo/secrets (demo-only credentials, committed on purpose; see its README). */
export const DEMO_SECRETS_DIR = fileURLToPath(new URL('./secrets/', import.meta.url));

export function readDemoSecret(file: string): string {
  return readFileSync(DEMO_SECRETS_DIR + file, 'utf8').trim();
}

export function readDemoJwk(file: string): JWK {
  return JSON.parse(readDemoSecret(file)) as JWK;
}
