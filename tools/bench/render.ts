/**
 * `npx tsx tools/bench/render.ts <bench JSON>`: prints the Markdown tables of an earlier run from its
 * JSON dump, the Done-when checks computed again by this checkout's report.ts (the figures are the run's).
 */
import { readFileSync } from 'node:fs';
import { computeChecks, renderMarkdown, type BenchResult } from './report.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: npx tsx tools/bench/render.ts <bench-*.json>\n');
  process.exit(2);
}
const result = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
// A run from before the flush floor was measured (bdce5e5) has none.
result.floor ??= {};
const stdioClients = [...new Set(result.cells.filter((c) => c.transport === 'stdio').map((c) => c.clients))].sort((a, b) => a - b);
result.checks = computeChecks(result, stdioClients);
process.stdout.write(renderMarkdown(result));
