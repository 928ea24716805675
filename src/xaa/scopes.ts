/** RFC 6749 §3.3: a space-delimited list; order kept, duplicates and empties dropped. */
export function formatScope(scopes: readonly string[]): string | undefined {
  const list = [...new Set(scopes.map((s) => s.trim()).filter(Boolean))];
  return list.length ? list.join(' ') : undefined;
}

export function parseScope(scope: string | undefined): string[] | undefined {
  if (scope === undefined) return undefined;
  return scope.split(' ').filter(Boolean);
}
