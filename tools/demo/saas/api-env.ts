import type { Context, Hono } from 'hono';
import { createHash } from 'node:crypto';
import { actingFor, insufficientScope, missingScopes, type AccessClaims } from './bearer.js';

/** What an app's API routes see: the verified caller, set by the bearer middleware. */
export type ApiEnv = { Variables: { auth: AccessClaims } };
export type ApiApp = Hono<ApiEnv>;
export type ApiContext = Context<ApiEnv>;

/** Returns a 403 response when the token lacks a scope, else undefined. */
export function needScopes(c: ApiContext, ...required: string[]): Response | undefined {
  const auth = c.get('auth');
  return missingScopes(auth, required).length ? insufficientScope(required, auth) : undefined;
}

export function ok(c: ApiContext, body: Record<string, unknown>, status: 200 | 201 = 200): Response {
  return c.json({ ...body, actingFor: actingFor(c.get('auth')) }, status);
}

export function badRequest(c: ApiContext, message: string): Response {
  return c.json({ error: 'invalid_request', message }, 400);
}

export function notFound(c: ApiContext, message: string): Response {
  return c.json({ error: 'not_found', message }, 404);
}

/** A stable pseudo-random number in [0, 1) from a seed: fake data that is the same every run. */
export function seeded(...parts: string[]): number {
  return createHash('sha256').update(parts.join('|')).digest().readUInt32BE(0) / 2 ** 32;
}
