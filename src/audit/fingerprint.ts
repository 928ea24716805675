import { createHash } from 'node:crypto';

/** base64url(SHA-256(token)): names a token in logs and audit records without revealing it. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}
