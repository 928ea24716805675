import type { z } from 'zod';

/** `tools[2].http.url` from zod's path array, so every message names the exact JSON location. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out || '(root)';
}

/** One line per issue: `<path>: <message>`, with unions flattened to their most specific branch. */
export function formatIssues(issues: ReadonlyArray<z.core.$ZodIssue>, base: PropertyKey[] = []): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0 && !issue.message.includes('secret')) {
      // Report the branch that got furthest (most specific path), not "Invalid input".
      const best = issue.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a));
      lines.push(...formatIssues(best, path));
      continue;
    }
    if (issue.code === 'unrecognized_keys') {
      lines.push(`${formatPath(path)}: unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}; check the spelling or remove them`);
      continue;
    }
    lines.push(`${formatPath(path)}: ${issue.message}`);
  }
  return lines;
}

function depth(issues: ReadonlyArray<z.core.$ZodIssue>): number {
  return Math.max(0, ...issues.map((i) => i.path.length));
}
