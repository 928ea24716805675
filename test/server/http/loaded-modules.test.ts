/**
 * `xaa-gateway serve` loads only what the deployment uses (docs/fleet.md "Memory"): on PostgreSQL
 * it never loads PGlite (whose WASM instance alone holds 100+ MiB), on the embedded store never `pg`,
 * and neither loads ioredis without REDIS_URL, the OpenTelemetry SDK without an OTLP endpoint, or
 * the v1 MCP SDK. Seen from inside the process: a module loader hook (node:module register, the
 * documented customization API) records every module the child loads, and the list is read after it
 * stopped. No memory figure is asserted: those depend on the machine.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnv, type Env } from '../../../tools/testkit/env.js';
import { createTestDatabase, ENGINES, spawnServeWithPreload, type TestDatabase } from './served-gateway.js';

let env: Env;
let hooksDir: string;
beforeAll(async () => {
  env = await startEnv();
  hooksDir = mkdtempSync(join(tmpdir(), 'xaa-module-trace-'));
  // The hooks run on the loader's own thread; `initialize` gets the file to append to.
  writeFileSync(
    join(hooksDir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function load(url, context, next) { appendFileSync(file, url + '\\n'); return next(url, context); }
`,
  );
});
afterAll(async () => {
  await env?.close();
  if (hooksDir) rmSync(hooksDir, { recursive: true, force: true });
});

/** The packages (node_modules/<name>) a serve process loaded from start until SIGTERM. */
async function packagesLoadedBy(engine: 'pglite' | 'postgres', db?: TestDatabase): Promise<Set<string>> {
  const trace = join(hooksDir, `${engine}.txt`);
  writeFileSync(trace, '');
  const register = join(hooksDir, `register-${engine}.mjs`);
  writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(hooksDir, 'hooks.mjs')).href)}, { data: { file: ${JSON.stringify(trace)} } });\n`,
  );
  const { served, publicUrl } = await spawnServeWithPreload(env, register, { REDIS_URL: '', ...(db ? { DATABASE_URL: db.url } : {}) });
  try {
    // A request through the whole front door (metadata, readiness with its store check).
    expect((await fetch(`${served.listenUrl}/readyz`)).status).toBe(200);
    expect((await (await fetch(`${served.listenUrl}/.well-known/oauth-protected-resource/mcp`)).json()).resource).toBe(`${publicUrl}/mcp`);
  } finally {
    expect(await served.stop()).toBe(0);
  }
  const packages = new Set<string>();
  for (const url of readFileSync(trace, 'utf8').split('\n')) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m) packages.add(m[1]!);
  }
  return packages;
}

const NEVER = ['ioredis', '@opentelemetry/sdk-trace-base', '@opentelemetry/exporter-trace-otlp-http', '@modelcontextprotocol/sdk'];

describe('serve loads only the modules of the deployment it runs', () => {
  for (const engine of ENGINES) {
    describe.skipIf(engine.skip)(engine.name, () => {
      let db: TestDatabase | undefined;
      afterAll(() => db?.drop());

      it(engine.kind === 'postgres' ? 'loads pg, never PGlite' : 'loads PGlite, never pg', async () => {
        if (engine.kind === 'postgres') db = await createTestDatabase();
        const loaded = await packagesLoadedBy(engine.kind, db);
        // Positive controls: the hook saw the process's own modules.
        expect(loaded.has('hono')).toBe(true);
        expect(loaded.has('@modelcontextprotocol/server')).toBe(true);
        const store = engine.kind === 'postgres' ? { used: 'pg', unused: '@electric-sql/pglite' } : { used: '@electric-sql/pglite', unused: 'pg' };
        expect({ [store.used]: loaded.has(store.used), [store.unused]: loaded.has(store.unused) }).toEqual({ [store.used]: true, [store.unused]: false });
        expect(NEVER.filter((p) => loaded.has(p))).toEqual([]);
      });
    });
  }
});
