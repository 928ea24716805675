#!/usr/bin/env node
// Runs the compiled gateway (dist/, built by `npm run build`; `npm install`, `npm ci` and `npm pack` build it
// through the "prepare" script). No TypeScript loader and no tsconfig are involved at run time, so the
// gateway behaves the same from any working directory and as an installed package.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write(`xaa-gateway: ${fileURLToPath(cli)} is missing; in a clone of the repository run \`npm run build\` (npm install runs it).\n`);
  process.exit(1);
}
await import(cli.href);
