import type { UserRef } from '../domain/control.js';
import type { Store } from '../store/types.js';
import type { LookupUserByEmail } from './subject.js';

/**
 * `email` subjects resolved through the gateway's sessions: the users whose IdP sign-in carried that
 * email (compared case-insensitively, as mailbox domains are). Security events are rare; a scan of
 * the sessions is fine.
 */
export function lookupUsersInStore(store: Pick<Store, 'listUserSessions'>): LookupUserByEmail {
  return async (email) => {
    const wanted = email.toLowerCase();
    const users = new Map<string, UserRef>();
    for (const s of await store.listUserSessions()) {
      if (s.email?.toLowerCase() === wanted) users.set(`${s.iss}\u0000${s.sub}`, { iss: s.iss, sub: s.sub });
    }
    return [...users.values()];
  };
}
