import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The security helpers every surface uses, one definition each (they had drifted: one loopback check
 * accepted only 127.0.0.1, another all of 127.0.0.0/8).
 */

/** SHA-256 of a secret: compared instead of the secret, so neither its length nor its content leaks through timing. */
export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Whether two secrets (tokens, CSRF values, hashes) are equal, in time independent of where they differ and of their lengths. */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(secretDigest(a), secretDigest(b));
}

/** Whether a presented secret equals one of several (digests from {@link secretDigest}), comparing with every one of them (no early exit). */
export function matchesAnyDigest(presented: string, digests: readonly Buffer[]): boolean {
  const d = secretDigest(presented);
  let ok = false;
  for (const t of digests) ok = timingSafeEqual(d, t) || ok;
  return ok;
}

/** A loopback host name as a URL carries it: `localhost`, `[::1]` or an address in 127.0.0.0/8 (RFC 8252 §8.3). */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** A loopback peer address as a socket reports it: 127.0.0.0/8, ::1, or IPv4-mapped 127.0.0.0/8. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase();
  return a === '::1' || /^(::ffff:)?127(\.\d{1,3}){3}$/.test(a);
}

/**
 * Plain http is accepted only for loopback hosts (local development, the demo enterprise, the conformance
 * suite); everything else must be https (RFC 8414 §2, RFC 9728 §2, OAuth 2.1 §1.5).
 */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && isLoopbackHost(url.hostname);
}

/** base64url(SHA-256(token)): names a token in logs and audit records without revealing it. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}
