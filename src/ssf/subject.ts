import type { UserRef } from '../domain/control.js';
import { setError } from './errors.js';

/**
 * Subject identifiers (RFC 9493) of a SET: `sub_id` at the top level (SSF 1.0 §4), or, from
 * transmitters following the older CAEP/RISC drafts, a `subject` member inside the event.
 * The gateway knows users by IdP (iss, sub): `iss_sub` maps directly; `email` goes through the
 * lookup the caller supplies (the store's sessions, say); `complex` (SSF 1.0 §3.2) uses its `user`
 * member; `aliases` (RFC 9493 §3.2.2) tries each identifier.
 */

export type SubjectId = { format: string; [member: string]: unknown };

export type LookupUserByEmail = (email: string) => Promise<UserRef[]>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** The subject of a SET, checked for the members its format requires (RFC 9493 §3.2). */
export function subjectOf(claims: Record<string, unknown>, event: Record<string, unknown>): SubjectId {
  const raw = claims.sub_id ?? event.subject;
  if (raw === undefined) throw setError('invalid_request', 'the SET has no subject: "sub_id" is required (SSF 1.0 §4.1)');
  checkSubject(raw, 'sub_id', 0);
  return raw as SubjectId;
}

function checkSubject(v: unknown, where: string, depth: number): void {
  if (!isObject(v)) throw setError('invalid_request', `${where} must be a JSON object (RFC 9493 §3)`);
  // SSF 1.0 §3.2: a complex subject may omit "format" (its members are themselves subject identifiers).
  const format = v.format ?? (depth === 0 ? 'complex' : undefined);
  if (!nonEmpty(format)) throw setError('invalid_request', `${where}.format must be a non-empty string (RFC 9493 §3)`);
  const need = (member: string) => {
    if (!nonEmpty(v[member])) throw setError('invalid_request', `${where}.${member} is required for format "${format}" (RFC 9493 §3.2)`);
  };
  switch (format) {
    case 'iss_sub':
      need('iss');
      need('sub');
      return;
    case 'email':
      need('email');
      return;
    case 'opaque':
      need('id');
      return;
    case 'aliases':
      if (depth > 0 || !Array.isArray(v.identifiers) || v.identifiers.length === 0) {
        throw setError('invalid_request', `${where}.identifiers must be a non-empty array of subject identifiers (RFC 9493 §3.2.2)`);
      }
      v.identifiers.forEach((id, i) => checkSubject(id, `${where}.identifiers[${i}]`, depth + 1));
      return;
    case 'complex':
      if (depth > 0) throw setError('invalid_request', `${where}: a complex subject cannot be nested`);
      if (Object.keys(v).every((k) => k === 'format'))
        throw setError('invalid_request', `${where}: a complex subject needs at least one member, e.g. "user" (SSF 1.0 §3.2)`);
      for (const [k, m] of Object.entries(v)) if (k !== 'format') checkSubject(m, `${where}.${k}`, depth + 1);
      return;
    default:
      return; // other formats are valid; resolveUsers decides whether the gateway can act on them
  }
}

/** The gateway users a subject names; empty when none can be found (the event is then audited as unresolved). */
export async function resolveUsers(subject: SubjectId, lookupUserByEmail?: LookupUserByEmail): Promise<UserRef[]> {
  const format = subject.format ?? 'complex';
  switch (format) {
    case 'iss_sub':
      return [{ iss: subject.iss as string, sub: subject.sub as string }];
    case 'email':
      return lookupUserByEmail ? dedupe(await lookupUserByEmail(subject.email as string)) : [];
    case 'aliases':
      for (const id of subject.identifiers as SubjectId[]) {
        const users = await resolveUsers(id, lookupUserByEmail);
        if (users.length) return users;
      }
      return [];
    case 'complex':
      return isObject(subject.user) ? resolveUsers(subject.user as SubjectId, lookupUserByEmail) : [];
    default:
      return [];
  }
}

function dedupe(users: UserRef[]): UserRef[] {
  const seen = new Map<string, UserRef>();
  for (const u of users) seen.set(`${u.iss}\u0000${u.sub}`, { iss: u.iss, sub: u.sub });
  return [...seen.values()];
}
