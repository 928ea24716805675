import { GatewayError } from '../errors.js';
import type { RawConfig } from './config-editor.js';

/**
 * The three editable parts of mcp.config.json, each addressed by name: `tools` and `upstreams`
 * are arrays of objects with a `name`, `resources` is an object keyed by name. Items are handled
 * as written in the file (raw JSON), so secret references and omitted defaults stay as they are.
 */
export type CollectionName = 'tools' | 'resources' | 'upstreams';

export const SINGULAR: Record<CollectionName, string> = { tools: 'tool', resources: 'resource', upstreams: 'upstream' };

type Item = Record<string, unknown>;

function isObject(v: unknown): v is Item {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Every item, each with its `name` (for resources the key, put first). */
export function listItems(raw: RawConfig, kind: CollectionName): Item[] {
  if (kind === 'resources') {
    const r = raw.resources;
    return isObject(r) ? Object.entries(r).map(([name, v]) => ({ name, ...(isObject(v) ? v : {}) })) : [];
  }
  const list = raw[kind];
  return Array.isArray(list) ? list.filter(isObject) : [];
}

export function getItem(raw: RawConfig, kind: CollectionName, name: string): Item | undefined {
  return listItems(raw, kind).find((i) => i.name === name);
}

/** Where an item sits in the file (for error paths and audit records). */
export function itemPath(raw: RawConfig, kind: CollectionName, name: string): string {
  if (kind === 'resources') return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? `resources.${name}` : `resources[${JSON.stringify(name)}]`;
  const list = raw[kind];
  const i = Array.isArray(list) ? list.findIndex((x) => isObject(x) && x.name === name) : -1;
  return `${kind}[${i < 0 ? (Array.isArray(list) ? list.length : 0) : i}]`;
}

/**
 * The body of a create or replace: a JSON object whose `name` (if present) is the one in the URL.
 * Returns the item as it will be stored (resources without `name`, tools and upstreams with it).
 */
export function itemFromBody(kind: CollectionName, body: unknown, name: string | undefined): { name: string; item: Item } {
  if (!isObject(body)) throw invalid('(body)', `expected a JSON object (the ${SINGULAR[kind]} as it appears in mcp.config.json)`);
  const bodyName = body.name;
  if (bodyName !== undefined && typeof bodyName !== 'string') throw invalid('name', 'must be a string');
  const finalName = name ?? bodyName;
  if (!finalName) throw invalid('name', `the ${SINGULAR[kind]} needs a "name"`);
  if (name !== undefined && bodyName !== undefined && bodyName !== name) {
    throw invalid('name', `"${bodyName}" differs from the ${SINGULAR[kind]} in the URL ("${name}"); renaming is delete + create`);
  }
  if (kind === 'resources') {
    const { name: _drop, ...rest } = body;
    return { name: finalName, item: rest };
  }
  return { name: finalName, item: { ...body, name: finalName } };
}

/** Creates (must not exist) or replaces (must exist) an item in place; returns the previous one. */
export function putItem(raw: RawConfig, kind: CollectionName, name: string, item: Item, mode: 'create' | 'replace'): Item | undefined {
  const before = getItem(raw, kind, name);
  if (mode === 'create' && before) throw new GatewayError('admin_conflict', `${SINGULAR[kind]} "${name}" already exists; use PUT to replace it`);
  if (mode === 'replace' && !before) throw notFound(kind, name);
  if (kind === 'resources') {
    const resources = isObject(raw.resources) ? raw.resources : (raw.resources = {});
    (resources as Item)[name] = item;
  } else {
    const list = Array.isArray(raw[kind]) ? (raw[kind] as unknown[]) : (raw[kind] = []);
    const i = list.findIndex((x) => isObject(x) && x.name === name);
    if (i >= 0) list[i] = item;
    else list.push(item);
  }
  return before;
}

export function deleteItem(raw: RawConfig, kind: CollectionName, name: string): Item {
  const before = getItem(raw, kind, name);
  if (!before) throw notFound(kind, name);
  if (kind === 'resources') delete (raw.resources as Item)[name];
  else raw[kind] = (raw[kind] as unknown[]).filter((x) => !(isObject(x) && x.name === name));
  return before;
}

/** RFC 7396 JSON Merge Patch: objects merge, `null` removes a member, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Item = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export function notFound(kind: CollectionName, name: string): GatewayError {
  return new GatewayError('admin_not_found', `no ${SINGULAR[kind]} named "${name}" in mcp.config.json`);
}

function invalid(path: string, message: string): GatewayError {
  return new GatewayError('admin_invalid', `${path}: ${message}`, { details: { issues: [{ path, message }] } });
}
