import type { AuditSink } from '../audit/types.js';
import { recordAdminAction } from '../control/service.js';
import type { Actor } from '../domain/control.js';
import { deleteItem, getItem, itemFromBody, itemPath, mergePatch, notFound, putItem, SINGULAR, type CollectionName } from './collections.js';
import type { ConfigEditor } from './config-editor.js';

export type ConfigOperation = 'create' | 'replace' | 'patch' | 'delete';

export interface ConfigChange {
  actor: Actor;
  kind: CollectionName;
  op: ConfigOperation;
  /** The item's name (for create: optional, taken from the body). */
  name?: string;
  /** create/replace: the whole item as written in mcp.config.json; patch: an RFC 7396 merge patch. */
  body?: unknown;
  /** The version the admin edited (ETag without quotes). */
  version: string;
}

export interface ConfigChangeResult {
  name: string;
  /** The item as now written (undefined after a delete). */
  item?: Record<string, unknown>;
  /** The item before the change (undefined after a create). */
  before?: Record<string, unknown>;
  /** The new file version (fleet mode: of the new revision). */
  version: string;
  /** Fleet mode: the store's new revision. */
  revision?: number;
}

/**
 * One admin edit of a tool, resource or upstream, for the admin API and the console alike: applied
 * under the editor's lock if the file is still at `version`, validated like a reload, recorded in
 * the audit log (fail closed: no record, no change), written atomically and put in force.
 * Throws GatewayError admin_conflict (stale version, or create of an existing name),
 * admin_not_found, admin_invalid (`details.issues`: `[{ path, message }]`) or audit_unavailable.
 */
export async function applyConfigChange(deps: { editor: ConfigEditor; audit: AuditSink }, change: ConfigChange): Promise<ConfigChangeResult> {
  const { kind, op } = change;
  const action = `${SINGULAR[kind]}.${op === 'create' ? 'create' : op === 'delete' ? 'delete' : 'update'}`;
  let name = change.name;
  const parsed = op === 'create' || op === 'replace' ? itemFromBody(kind, change.body, change.name) : undefined;
  if (parsed) name = parsed.name;
  if (!name) throw notFound(kind, '');
  const target = name;
  const { result, version, revision } = await deps.editor.edit(
    change.version,
    (raw) => {
      let before: Record<string, unknown> | undefined;
      const wasAt = itemPath(raw, kind, target);
      if (op === 'create' || op === 'replace') before = putItem(raw, kind, target, parsed!.item, op);
      else if (op === 'delete') before = deleteItem(raw, kind, target);
      else {
        before = getItem(raw, kind, target);
        if (!before) throw notFound(kind, target);
        putItem(raw, kind, target, itemFromBody(kind, mergePatch(before, change.body), target).item, 'replace');
      }
      return { before, item: op === 'delete' ? undefined : getItem(raw, kind, target), path: op === 'delete' ? wasAt : itemPath(raw, kind, target) };
    },
    ({ before, item, path }, info) =>
      recordAdminAction(deps.audit, {
        actor: change.actor,
        action,
        target: { [SINGULAR[kind]]: target, path, ...deps.editor.target(info.revision) },
        before: before ?? null,
        after: item ?? null,
      }),
  );
  return {
    name: target,
    ...(result.item ? { item: result.item } : {}),
    ...(result.before ? { before: result.before } : {}),
    version,
    ...(revision !== undefined ? { revision } : {}),
  };
}
