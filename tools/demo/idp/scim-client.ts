import { performance } from 'node:perf_hooks';
import { randomToken, type IdpContext } from './context.js';
import type { DemoScim, DemoScimDelivery, DemoScimTarget, DemoUserChange } from '../types.js';

/**
 * The demo IdP as a SCIM 2.0 client (RFC 7644), shaped like Okta's provisioning: users are looked up
 * by `userName eq "<email>"` and created when missing (externalId = the user's `sub`), deactivation
 * and activation are `PATCH {"op": "replace", "value": {"active": …}}`, pushed groups get
 * `members` added by value and removed by the `members[value eq "…"]` path. Requests to one target
 * go one after another, in the order the admin acted.
 */

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const TIMEOUT_MS = 10_000;

interface Target extends DemoScimTarget {
  token: string;
  /** username -> SCIM id at the service provider. */
  users: Map<string, string>;
  /** group name -> SCIM id. */
  groupIds: Map<string, string>;
  /** The tail of this target's request chain. */
  tail: Promise<void>;
}

export class DemoScimClient implements DemoScim {
  readonly deliveries: DemoScimDelivery[] = [];
  private readonly all = new Map<string, Target>();

  constructor(private readonly ctx: IdpContext) {
    ctx.state.userChangeListeners.add((e) => {
      for (const t of this.all.values()) this.enqueue(t, () => this.push(t, e));
    });
  }

  async connect(input: { baseUrl: string; token: string; groups?: string[] }): Promise<DemoScimTarget> {
    const t: Target = {
      id: randomToken(9),
      baseUrl: input.baseUrl.replace(/\/+$/, ''),
      groups: [...(input.groups ?? [])],
      token: input.token,
      users: new Map(),
      groupIds: new Map(),
      tail: Promise.resolve(),
    };
    this.all.set(t.id, t);
    this.enqueue(t, () => this.sync(t));
    await t.tail;
    return publicView(t);
  }

  disconnect(id: string): boolean {
    return this.all.delete(id);
  }

  targets(): DemoScimTarget[] {
    return [...this.all.values()].map(publicView);
  }

  async flush(): Promise<void> {
    await Promise.all([...this.all.values()].map((t) => t.tail));
  }

  private enqueue(t: Target, job: () => Promise<void>): void {
    // One failed request does not stop the ones after it (each is recorded in `deliveries`).
    t.tail = t.tail.then(job).catch(() => {});
  }

  /** Initial provisioning: every user, then every pushed group with its members. */
  private async sync(t: Target): Promise<void> {
    for (const u of this.ctx.state.users.values()) {
      const found = await this.send(t, 'GET', `/Users?filter=${encodeURIComponent(`userName eq "${u.email}"`)}`, undefined, { username: u.username });
      const existing = (found?.Resources as Array<{ id: string; active?: boolean }> | undefined)?.[0];
      if (existing) {
        t.users.set(u.username, existing.id);
        if (existing.active !== u.active) await this.patchActive(t, u.username, u.active);
        continue;
      }
      const [givenName, ...rest] = u.name.split(' ');
      const created = await this.send(
        t,
        'POST',
        '/Users',
        {
          schemas: [USER],
          userName: u.email,
          externalId: u.sub,
          name: { givenName, familyName: rest.join(' ') },
          displayName: u.name,
          emails: [{ primary: true, value: u.email, type: 'work' }],
          active: u.active,
        },
        { username: u.username },
      );
      if (typeof created?.id === 'string') t.users.set(u.username, created.id);
    }
    for (const group of t.groups) {
      const members = [...this.ctx.state.users.values()]
        .filter((u) => u.groups.includes(group) && t.users.has(u.username))
        .map((u) => ({ value: t.users.get(u.username)!, display: u.email }));
      const found = await this.send(t, 'GET', `/Groups?filter=${encodeURIComponent(`displayName eq "${group}"`)}`, undefined, { group });
      const existing = (found?.Resources as Array<{ id: string }> | undefined)?.[0];
      if (existing) {
        t.groupIds.set(group, existing.id);
        await this.send(t, 'PATCH', `/Groups/${existing.id}`, patch({ op: 'replace', path: 'members', value: members }), { group });
      } else {
        const created = await this.send(t, 'POST', '/Groups', { schemas: [GROUP], displayName: group, members }, { group });
        if (typeof created?.id === 'string') t.groupIds.set(group, created.id);
      }
    }
  }

  private async push(t: Target, e: DemoUserChange): Promise<void> {
    const id = t.users.get(e.username);
    if (!id) return;
    if (e.change === 'active') {
      await this.patchActive(t, e.username, this.ctx.state.users.get(e.username)!.active);
      return;
    }
    const gid = t.groupIds.get(e.group);
    if (!gid) return; // not a pushed group
    const email = this.ctx.state.users.get(e.username)!.email;
    const op = e.member ? { op: 'add', path: 'members', value: [{ value: id, display: email }] } : { op: 'remove', path: `members[value eq "${id}"]` };
    await this.send(t, 'PATCH', `/Groups/${gid}`, patch(op), { username: e.username, group: e.group });
  }

  private patchActive(t: Target, username: string, active: boolean) {
    return this.send(t, 'PATCH', `/Users/${t.users.get(username)!}`, patch({ op: 'replace', value: { active } }), { username });
  }

  /** One request; its answer's JSON (undefined when it failed, recorded in `deliveries`). */
  private async send(
    t: Target,
    method: string,
    path: string,
    body: unknown,
    about: { username?: string; group?: string },
  ): Promise<Record<string, unknown> | undefined> {
    const sentAt = performance.now();
    const record = (d: Partial<DemoScimDelivery>) =>
      this.deliveries.push({ targetId: t.id, method, path: path.split('?')[0]!, ...about, sentAt, answeredAt: performance.now(), ...d });
    try {
      const res = await fetch(`${t.baseUrl}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${t.token}`,
          Accept: 'application/scim+json',
          'X-Request-Id': `demo-idp-${randomToken(9)}`,
          ...(body === undefined ? {} : { 'Content-Type': 'application/scim+json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      const text = await res.text();
      record({ status: res.status, ...(res.ok ? {} : { error: text.slice(0, 500) }) });
      return res.ok && text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch (e) {
      record({ error: (e as Error).message });
      return undefined;
    }
  }
}

function patch(...Operations: unknown[]) {
  return { schemas: [PATCH_OP], Operations };
}

function publicView(t: Target): DemoScimTarget {
  return { id: t.id, baseUrl: t.baseUrl, groups: [...t.groups] };
}
