import { switchKey } from './switches.js';
import type { KillSwitch, SwitchState } from '../domain/control.js';

/** What the policy asks about one tool call. */
export interface SwitchQuery {
  user: { iss: string; sub: string };
  /** The agent's OAuth client id (HTTP); stdio agents have none, so agent and connection switches cannot match them. */
  clientId?: string;
  /** The config resource or upstream the tool reaches (its name). */
  target: { name: string };
}

/** The synchronous check `decide` (src/policy) runs on every call. */
export interface KillSwitchCheck {
  find(q: SwitchQuery): SwitchState | undefined;
}

/**
 * The kill switches in force, in memory, so the check on every call is a few map lookups and no
 * I/O. ControlService updates it synchronously on each change it makes and replaces it whole when
 * the store's revision moved (another instance changed a switch). Stale replacements, read before
 * a change this instance already applied, are ignored by revision.
 */
export class SwitchSnapshot implements KillSwitchCheck {
  #byKey = new Map<string, SwitchState>();
  #revision = -1;

  get revision(): number {
    return this.#revision;
  }

  get size(): number {
    return this.#byKey.size;
  }

  /** Most general first: read-only mode, then the user, the agent, the resource, the connection. */
  find(q: SwitchQuery): SwitchState | undefined {
    if (this.#byKey.size === 0) return undefined;
    const candidates: KillSwitch[] = [{ kind: 'all' }, { kind: 'user', user: { iss: q.user.iss, sub: q.user.sub } }];
    if (q.clientId !== undefined) candidates.push({ kind: 'agent', clientId: q.clientId });
    candidates.push({ kind: 'resource', name: q.target.name });
    if (q.clientId !== undefined) candidates.push({ kind: 'connection', clientId: q.clientId, resource: q.target.name });
    for (const c of candidates) {
      const hit = this.#byKey.get(switchKey(c));
      if (hit) return hit;
    }
    return undefined;
  }

  get(s: KillSwitch): SwitchState | undefined {
    return this.#byKey.get(switchKey(s));
  }

  list(): SwitchState[] {
    return [...this.#byKey.values()].sort((a, b) => a.since - b.since);
  }

  /** Applies one change made at `revision`. */
  put(state: SwitchState, revision: number): void {
    this.#byKey.set(switchKey(state.switch), state);
    this.#revision = Math.max(this.#revision, revision);
  }

  remove(s: KillSwitch, revision: number): void {
    this.#byKey.delete(switchKey(s));
    this.#revision = Math.max(this.#revision, revision);
  }

  /**
   * Replaces everything with a list read at `revision`. Returns the switches that appeared (so the
   * caller can purge what they cover), or undefined when the list is not newer than what is held.
   */
  replace(states: SwitchState[], revision: number): SwitchState[] | undefined {
    if (revision <= this.#revision) return undefined;
    const next = new Map(states.map((s) => [switchKey(s.switch), s] as const));
    const added = [...next.entries()].filter(([k, s]) => this.#byKey.get(k)?.since !== s.since).map(([, s]) => s);
    this.#byKey = next;
    this.#revision = revision;
    return added;
  }
}
