/**
 * SEP-2243 (MCP 2026-07-28, "Custom Headers"): the `x-mcp-header` declarations of a tool's
 * inputSchema. The HTTP adapter checks `Mcp-Param-*` headers against them
 * (server/http/param-headers.ts); the gateway notes which upstream tools declare any.
 */

export interface ParamHeaderDeclaration {
  /** Property path from the arguments object. */
  path: string[];
  /** The `<Name>` of `Mcp-Param-<Name>`. */
  headerName: string;
  type: string;
}

/** RFC 9110 §5.6.2 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PRIMITIVE = new Set(['string', 'integer', 'boolean', 'number']);

/**
 * The `x-mcp-header` declarations reachable through `properties` chains. An annotation elsewhere
 * (under items, anyOf, …) or an invalid one makes the tool definition invalid: conforming clients
 * exclude such a tool, so nothing is validated for it (the gateway relays the upstream's schema as is).
 */
/** Declarations per schema object: config schemas are frozen and upstream lists cached, so each is walked once. */
const declarationsOf = new WeakMap<object, ParamHeaderDeclaration[]>();

export function paramHeaderDeclarations(inputSchema: unknown): ParamHeaderDeclaration[] {
  if (typeof inputSchema !== 'object' || inputSchema === null) return [];
  let known = declarationsOf.get(inputSchema);
  if (!known) declarationsOf.set(inputSchema, (known = scanDeclarations(inputSchema)));
  return known;
}

function scanDeclarations(inputSchema: object): ParamHeaderDeclaration[] {
  const out: ParamHeaderDeclaration[] = [];
  const seen = new Set<string>();
  const visit = (node: unknown, path: string[]): boolean => {
    if (typeof node !== 'object' || node === null) return true;
    const schema = node as Record<string, unknown>;
    if ('x-mcp-header' in schema && path.length > 0) {
      const name = schema['x-mcp-header'];
      const type = schema.type;
      if (typeof name !== 'string' || !TOKEN.test(name) || typeof type !== 'string' || !PRIMITIVE.has(type)) return false;
      if (seen.has(name.toLowerCase())) return false;
      seen.add(name.toLowerCase());
      out.push({ path, headerName: name, type });
    }
    const props = schema.properties;
    if (typeof props === 'object' && props !== null) {
      for (const [key, child] of Object.entries(props)) if (!visit(child, [...path, key])) return false;
    }
    return true;
  };
  return visit(inputSchema, []) ? out : [];
}
