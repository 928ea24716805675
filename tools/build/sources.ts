import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The TypeScript modules under `dir` (.ts and .tsx, no .d.ts), recursively: what the build emits and the checks read. */
export function typeScriptSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? typeScriptSources(join(dir, e.name)) : /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );
}
