import { filter as compile, parse, type Filter } from 'scim2-parse-filter';
import { LIMITS, SCHEMAS } from './constants.js';
import { invalid } from './errors.js';
import type { Json } from './resources.js';

/**
 * RFC 7644 §3.4.2.2 filters, parsed by scim2-parse-filter. What IdPs send is one equality
 * (`userName eq "x"`, `externalId eq "x"`, `displayName eq "x"`): that is answered from the store's
 * index. Anything else is evaluated over the client's resources of the type. String comparison is
 * case-insensitive except for `id` and `externalId` (RFC 7643 §3.1, §4.1.1: caseExact only for those).
 */

export type ScimFilter =
  /** One equality on an indexed attribute. */
  | { kind: 'lookup'; attribute: 'id' | 'name' | 'externalId'; value: string }
  /** Any other filter, as a predicate over rendered resources. */
  | { kind: 'predicate'; test: (resource: Json) => boolean };

const CASE_EXACT = new Set(['id', 'externalid']);

/** "urn:...:core:2.0:User:userName" -> "userName" (RFC 7644 §3.10: attribute paths may carry the schema URN). */
function stripUrn(path: string): string {
  for (const urn of [SCHEMAS.user, SCHEMAS.group]) if (path.toLowerCase().startsWith(`${urn.toLowerCase()}:`)) return path.slice(urn.length + 1);
  return path;
}

export function parseFilter(text: string, type: 'User' | 'Group'): ScimFilter {
  if (text.length > LIMITS.maxFilterLength) throw invalid('invalidFilter', `filter is longer than ${LIMITS.maxFilterLength} characters`);
  let ast: Filter;
  try {
    ast = parse(text);
  } catch (e) {
    throw invalid('invalidFilter', `filter ${JSON.stringify(text.slice(0, 100))} is not valid SCIM filter syntax (RFC 7644 §3.4.2.2): ${(e as Error).message}`);
  }
  if (ast.op === 'eq' && 'attrPath' in ast && typeof ast.compValue === 'string') {
    const attribute = stripUrn(ast.attrPath).toLowerCase();
    const nameAttr = type === 'User' ? 'username' : 'displayname';
    if (attribute === 'id') return { kind: 'lookup', attribute: 'id', value: ast.compValue };
    if (attribute === nameAttr) return { kind: 'lookup', attribute: 'name', value: ast.compValue };
    if (attribute === 'externalid') return { kind: 'lookup', attribute: 'externalId', value: ast.compValue };
  }
  const test = compile(folded(ast));
  return { kind: 'predicate', test: (r) => test(foldValues(r)) };
}

/** The filter with its string values in lower case, but for case-exact attributes. */
function folded(f: Filter): Filter {
  switch (f.op) {
    case 'and':
    case 'or':
      return { ...f, filters: (f as { filters: Filter[] }).filters.map(folded) } as Filter;
    case 'not':
      return { ...f, filter: folded((f as { filter: Filter }).filter) } as Filter;
    case '[]':
      return { ...f, attrPath: stripUrn((f as { attrPath: string }).attrPath), valFilter: folded((f as { valFilter: Filter }).valFilter) } as Filter;
    default: {
      const c = f as { attrPath: string; compValue?: unknown };
      const attrPath = stripUrn(c.attrPath);
      const last = attrPath.split('.').at(-1)!.toLowerCase();
      const compValue = typeof c.compValue === 'string' && !CASE_EXACT.has(last) ? c.compValue.toLowerCase() : c.compValue;
      return { ...f, attrPath, ...(c.compValue === undefined ? {} : { compValue }) } as Filter;
    }
  }
}

/** A resource with its string values in lower case, but for case-exact attributes. */
function foldValues(v: unknown, key = ''): unknown {
  if (typeof v === 'string') return CASE_EXACT.has(key.toLowerCase()) ? v : v.toLowerCase();
  if (Array.isArray(v)) return v.map((x) => foldValues(x, key));
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, foldValues(x, k)]));
  return v;
}
