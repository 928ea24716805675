/**
 * The docs name commands and config fields; each must exist. Config paths written in backticks in
 * README.md and docs/*.md (`server.sessions.maxPerSignIn`, `resources.<name>.timeoutMs`) are resolved
 * against the JSON Schema generated from the zod schema (mcp.config.schema.json, itself checked against
 * the zod schema by test/config); `xaa-gateway <command> [<subcommand>]` invocations must be commands the
 * CLI knows (its --help answers, exit 0).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../../tools/testkit/env.js';

const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const text = (f: string) => readFileSync(join(ROOT, f), 'utf8');
const TOP = ['idp', 'resources', 'tools', 'upstreams', 'server', 'admin', 'ssf', 'scim', 'tokens', 'audit', 'observability', 'toolRateLimits', 'stdio'];

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  $ref?: string;
};
const root = JSON.parse(text('mcp.config.schema.json')) as Schema & { $defs?: Record<string, Schema>; definitions?: Record<string, Schema> };
const deref = (s: Schema): Schema => {
  if (!s.$ref) return s;
  const name = s.$ref.split('/').at(-1)!;
  return deref((root.$defs ?? root.definitions ?? {})[name]!);
};
/** The schemas a path segment can lead to (through unions, records and arrays). */
function step(s: Schema, seg: string): Schema[] {
  const d = deref(s);
  const alts = [...(d.anyOf ?? []), ...(d.oneOf ?? []), ...(d.allOf ?? [])];
  if (alts.length) return alts.flatMap((a) => step(a, seg));
  if (d.items) return step(d.items, seg);
  const out: Schema[] = [];
  if (d.properties?.[seg]) out.push(d.properties[seg]);
  if (/^<.*>$/.test(seg) && typeof d.additionalProperties === 'object') out.push(d.additionalProperties);
  return out;
}
function resolves(path: string): boolean {
  let at: Schema[] = [root];
  for (const seg of path.split('.')) {
    at = at.flatMap((s) => step(s, seg));
    if (!at.length) return false;
  }
  return true;
}

/** Dotted names in backticks that are not config paths: the label values of xaa_tool_calls_rate_limited_total. */
const NOT_CONFIG = new Set(['tools.perUser', 'tools.perTool']);

/** `a.b.c` in backticks whose first segment is a top-level config key; file names (`audit.<x>.lock`) excluded. */
function configPaths(doc: string): string[] {
  const re = new RegExp(`\`((?:${TOP.join('|')})(?:\\.[A-Za-z0-9_<>-]+)+)\``, 'g');
  return [...doc.matchAll(re)].map((m) => m[1]!).filter((p) => !/\.(lock|json|jsonl|want)$/.test(p) && !NOT_CONFIG.has(p));
}

/** The command words after `xaa-gateway` in the docs, up to the first argument, option or placeholder. */
function commands(doc: string): string[] {
  const out: string[] = [];
  // Invocations: at the start of a line or a code span, after `npx ` or a table's `| `; not the server name
  // in another tool's command (`claude mcp add --transport http xaa-gateway http://...`).
  for (const m of doc.matchAll(/(?:^|[`(]|npx |\| )xaa-gateway((?: [a-z][a-z-]*)+)/gm)) {
    const words = m[1]!.trim().split(' ');
    out.push(words.slice(0, 2).join(' '));
  }
  return out;
}

describe('the docs name only what exists', () => {
  it.each(DOCS)('%s: every config path it names is in the config schema', (f) => {
    const missing = [...new Set(configPaths(text(f)))].filter((p) => !resolves(p));
    expect(missing).toEqual([]);
  });

  it('every xaa-gateway command the docs name answers --help', () => {
    const all = [...new Set(DOCS.flatMap((f) => commands(text(f))))].sort();
    const unknown: string[] = [];
    const topLevel = execFileSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
    // One `<command> --help` per command, however many of its subcommands the docs name.
    const helps = new Map<string, string>();
    const helpOf = (cmd: string) => helps.get(cmd) ?? helps.set(cmd, execFileSync(process.execPath, [BIN, cmd, '--help'], { encoding: 'utf8' })).get(cmd)!;
    for (const c of all) {
      const [cmd, sub] = c.split(' ');
      // Words after the command that are its arguments ("serve the", "stdio from") are not subcommands.
      if (!new RegExp(`^ {2}${cmd}\\b`, 'm').test(topLevel)) {
        unknown.push(c);
        continue;
      }
      if (!sub) continue;
      const help = helpOf(cmd!);
      const hasSubcommands = /^Commands:/m.test(help);
      if (hasSubcommands && !new RegExp(`^ {2}${sub}\\b`, 'm').test(help)) unknown.push(c);
    }
    expect(all.length).toBeGreaterThan(10);
    expect(unknown).toEqual([]);
  });
});
