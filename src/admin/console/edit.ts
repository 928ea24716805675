import type { Actor } from '../../domain/control.js';
import { isGatewayError } from '../../errors.js';
import type { CollectionName } from '../collections.js';
import type { ConfigEditor, ConfigIssue } from '../config-editor.js';
import { applyConfigChange } from '../config-service.js';
import type { AdminOptions } from '../context.js';

export type UpdateResult =
  | { ok: true; version: string; revision?: number }
  | { ok: false; kind: 'invalid'; issues: ConfigIssue[] }
  | { ok: false; kind: 'conflict'; message: string; version?: string }
  | { ok: false; kind: 'not_found'; message: string };

/**
 * Changes one tool, resource or upstream in mcp.config.json through applyConfigChange, the same
 * path as `PUT`/`PATCH /admin/api/<kind>/<name>` (src/admin/api.ts): under the ConfigEditor's lock,
 * only if the file is still at `expected`, validated as a reload would be, audited as
 * `<kind>.update` before the file is written (fail closed), then applied to the running gateway.
 * `replace` takes the whole item, `patch` an RFC 7396 merge patch of it. Refusals come back as
 * values the console renders next to the fields.
 */
export async function updateConfigItem(
  opts: Pick<AdminOptions, 'audit'>,
  editor: ConfigEditor,
  actor: Actor,
  kind: CollectionName,
  name: string,
  expected: string,
  change: { op: 'replace' | 'patch'; body: unknown },
): Promise<UpdateResult> {
  try {
    const { version, revision } = await applyConfigChange(
      { editor, audit: opts.audit },
      { actor, kind, op: change.op, name, body: change.body, version: expected },
    );
    return { ok: true, version, ...(revision !== undefined ? { revision } : {}) };
  } catch (e) {
    if (isGatewayError(e, 'admin_invalid')) {
      const issues = Array.isArray(e.details?.issues) ? (e.details.issues as ConfigIssue[]) : [{ path: '(root)', message: e.message }];
      return { ok: false, kind: 'invalid', issues };
    }
    if (isGatewayError(e, 'admin_conflict')) {
      const version = typeof e.details?.version === 'string' ? e.details.version : undefined;
      return { ok: false, kind: 'conflict', message: e.message, ...(version ? { version } : {}) };
    }
    if (isGatewayError(e, 'admin_not_found')) return { ok: false, kind: 'not_found', message: e.message };
    throw e;
  }
}

/**
 * Issues of one item, by form field: `tools[3].scopes[1]` -> `scopes`. Issues of itemFromBody use
 * item-relative paths (`name`, `(body)`); issues elsewhere in the file (a hand edit that broke
 * another part) go under `''` with their full path.
 */
export function issuesByField(issues: ConfigIssue[], itemPathPrefix: string): Map<string, ConfigIssue[]> {
  const out = new Map<string, ConfigIssue[]>();
  const add = (field: string, i: ConfigIssue) => out.set(field, [...(out.get(field) ?? []), i]);
  for (const i of issues) {
    if (itemPathPrefix && i.path.startsWith(itemPathPrefix + '.')) {
      const rest = i.path.slice(itemPathPrefix.length + 1);
      add(/^[A-Za-z0-9_$]+/.exec(rest)?.[0] ?? '', i);
    } else if (i.path === 'name') {
      add('name', i);
    } else {
      add('', i);
    }
  }
  return out;
}
