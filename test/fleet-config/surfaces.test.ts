/**
 * The admin surfaces in fleet mode tell the truth (source, revision), a stale If-Match is a 409 as
 * in file mode, and `config import` / `config export` / `config check` move and report the
 * editable sections between a file and the shared store.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { PgAuditSource } from '../../src/audit/pg-source.js';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { registerAdminCommand } from '../../src/admin/cli.js';
import { checkFleetSource, runConfigExport, runConfigImport } from '../../src/admin/config-transfer.js';
import { createAdminRouter } from '../../src/admin/index.js';
import { loadConfigFile } from '../../src/config/index.js';
import { defaultDeps } from '../../src/deps.js';
import { silentLogger } from '../../src/log.js';
import { queryAudit } from '../../src/audit/index.js';
import { ADMIN_TOKEN_ENV, databaseUrl, dropSchema, fleetConfigJson, newSchema, skipPostgres, startInstance, tempConfig } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function capture() {
  const o = { stdout: [] as string[], stderr: [] as string[] };
  return { o, out: { stdout: (s: string) => void o.stdout.push(s), stderr: (s: string) => void o.stderr.push(s) } };
}

describe.skipIf(skipPostgres)('admin API, CLI and console in fleet mode', () => {
  it('show the source and revision; writes answer with the new revision; a stale If-Match is 409 naming the revision', async () => {
    const schema = newSchema('surface_test');
    cleanups.push(() => dropSchema(schema));
    const file = await tempConfig();
    cleanups.push(file.close);
    const i = await startInstance('A', { schema, configPath: file.path, pollMs: 0 });
    cleanups.push(i.close);
    const { app } = createAdminRouter({
      config: i.config,
      store: i.store,
      control: i.control,
      audit: i.audit,
      deps: defaultDeps,
      logger: silentLogger,
      editor: i.editor,
    });
    const token = process.env[ADMIN_TOKEN_ENV]!;
    const api = (method: string, path: string, o: { body?: unknown; ifMatch?: string } = {}) =>
      app.request(`http://127.0.0.1:4399/api${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          ...(o.body ? { 'Content-Type': 'application/json' } : {}),
          ...(o.ifMatch ? { 'If-Match': o.ifMatch } : {}),
        },
        ...(o.body ? { body: JSON.stringify(o.body) } : {}),
      });

    const config = await api('GET', '/config');
    expect(config.status).toBe(200);
    expect(config.headers.get('x-config-source')).toBe('store');
    expect(config.headers.get('x-config-revision')).toBe('1');
    const body = await config.json();
    expect(body).toMatchObject({
      source: 'store',
      store: `test store ${schema}`,
      revision: 1,
      revisionInForce: 1,
      inForce: true,
      path: file.path,
      updatedBy: `seeded from ${file.path}`,
    });
    const etag = config.headers.get('etag')!;
    expect(etag).toBe(`"${i.config.current.fleet!.version}"`);

    const patched = await api('PATCH', '/tools/cal_today', { body: { enabled: false }, ifMatch: etag });
    expect(patched.status).toBe(200);
    expect(patched.headers.get('x-config-revision')).toBe('2');
    expect(patched.headers.get('etag')).not.toBe(etag);
    const stale = await api('PATCH', '/tools/cal_today', { body: { enabled: true }, ifMatch: etag });
    expect(stale.status).toBe(409);
    expect(await stale.json()).toMatchObject({
      error: 'admin_conflict',
      revision: 2,
      version: i.config.current.fleet!.version,
      message: expect.stringContaining('revision 2'),
    });
    expect((await api('GET', '/tools/cal_today')).status).toBe(200);

    // The admin CLI against this API.
    const lines: string[] = [];
    const program = new Command('xaa-gateway').exitOverride();
    registerAdminCommand(
      program,
      {
        stdout: (s) => lines.push(s),
        stderr: (s) => lines.push(`ERR ${s}`),
        env: { XAA_GATEWAY_URL: 'http://127.0.0.1:4399', XAA_ADMIN_TOKEN: token },
        fetch: (async (url: RequestInfo | URL, init?: RequestInit) => app.request(String(url).replace('/admin/api', '/api'), init)) as typeof fetch,
      },
      () => undefined,
    );
    await program.parseAsync(['admin', 'config'], { from: 'user' });
    expect(lines.at(-1)).toMatch(
      new RegExp(
        `^source: shared store \\(test store ${schema}\\), revision 2; in force on this instance\\n2 tools, 1 resources, 0 upstreams; last written .* \\(admin edit\\)`,
      ),
    );
    await writeFile(
      join(file.dir, 'tool.json'),
      JSON.stringify({
        name: 'cli_tool',
        description: 'from the CLI',
        resource: 'cal',
        scopes: ['cal.read'],
        http: { method: 'GET', url: 'https://cal.example/api/x' },
      }),
    );
    await program.parseAsync(['admin', 'tools', 'set', '--file', join(file.dir, 'tool.json')], { from: 'user' });
    expect(lines.at(-1)).toBe('created tool "cli_tool"; in force now on every instance: shared store revision 3');

    // The console's tools page names the store and the revision.
    const page = await app.request('http://127.0.0.1:4399/tools', { headers: { Authorization: `Bearer ${token}` } });
    const html = await page.text();
    expect(page.status, html.slice(0, 300)).toBe(200);
    expect(html).toContain('data-config-revision="3"');
    expect(html).toContain(`kept in the store (test store ${schema})`);
  });
});

describe.skipIf(skipPostgres)('config import / export / check', () => {
  it("import makes the file's sections the next revision (audited), export writes them into a file, check names the source", async () => {
    const schema = newSchema('transfer_test');
    cleanups.push(() => dropSchema(schema));
    const file = await tempConfig(fleetConfigJson(['first']));
    cleanups.push(file.close);
    const base = { configPath: file.path, databaseUrl, schema, deps: defaultDeps };

    // An empty store: check says who will seed it; export has nothing.
    expect(await checkFleetSource(loadConfigFile(file.path), base)).toMatch(
      /has no fleet config yet; the first `serve` seeds it from .*mcp\.config\.json \(revision 1\)$/,
    );
    await expect(runConfigExport(base, capture().out)).rejects.toMatchObject({ code: 'admin_not_found' });

    let c = capture();
    expect(await runConfigImport(base, c.out)).toBe(0);
    expect(c.o.stdout).toEqual([
      `imported 1 tool, 1 resource, 0 upstreams from ${file.path} into the shared store (PostgreSQL at 127.0.0.1:5432/test (schema ${schema})): revision 0 -> 1; running instances apply it within a second`,
    ]);
    c = capture();
    expect(await runConfigImport(base, c.out)).toBe(0);
    expect(c.o.stdout[0]).toMatch(/^nothing to import: .* at revision 1 \(1 tool, 1 resource, 0 upstreams\)$/);

    // A running instance follows an import (NOTIFY; its poll is off).
    const i = await startInstance('A', { schema, configPath: file.path, pollMs: 0 });
    cleanups.push(i.close);
    const other = await tempConfig(fleetConfigJson(['second', 'third']));
    cleanups.push(other.close);
    c = capture();
    expect(await runConfigImport({ ...base, file: other.path, ifRevision: 1 }, c.out)).toBe(0);
    expect(c.o.stdout[0]).toMatch(/revision 1 -> 2;/);
    await expect.poll(() => i.config.current.config.tools.map((t) => t.name), { timeout: 5_000, interval: 5 }).toEqual(['second', 'third']);
    await expect(runConfigImport({ ...base, ifRevision: 1 }, capture().out)).rejects.toMatchObject({
      code: 'admin_conflict',
      message: expect.stringContaining('at revision 2, not 1'),
    });

    // Audited in the file's audit log (fail closed), as an admin action from the CLI.
    // Recorded where the fleet's gateways write: the audit table of the shared database, as this host's CLI.
    const records = [];
    const source = new PgAuditSource({ databaseUrl, schema });
    for await (const r of queryAudit(source, {})) records.push(r as Record<string, any>);
    await source.close();
    expect(records.every((r) => /^cli-/.test(r.instance))).toBe(true);
    expect(records.filter((r) => r.type === 'admin_action').map((r) => [r.action, r.actor, r.target.revision])).toEqual([
      ['config.import', { kind: 'admin', via: 'cli' }, 1],
      ['config.import', { kind: 'admin', via: 'cli' }, 2],
    ]);

    // check: the file's own tools are not the ones in force.
    expect(await checkFleetSource(loadConfigFile(file.path), base)).toMatch(
      /^config source: tools, resources and upstreams from the shared store \(PostgreSQL .*\), revision 2 \(version [0-9a-f]{12}\): 2 tools, 1 resource, 0 upstreams, valid here with \d+ secrets readable; the file's own tools\/resources\/upstreams differ and are NOT in force/,
    );

    // export: to stdout, then into the file (other sections and $schema-like keys kept).
    c = capture();
    expect(await runConfigExport({ ...base, out: '-' }, c.out)).toBe(0);
    expect(JSON.parse(c.o.stdout[0]!).tools.map((t: { name: string }) => t.name)).toEqual(['second', 'third']);
    expect(c.o.stderr[0]).toMatch(/^exported revision 2 of the shared store/);
    const before = JSON.parse(await readFile(file.path, 'utf8'));
    c = capture();
    expect(await runConfigExport(base, c.out)).toBe(0);
    expect(c.o.stdout[0]).toBe(
      `exported revision 2 of the shared store (PostgreSQL at 127.0.0.1:5432/test (schema ${schema})) into ${file.path}: 2 tools, 1 resource, 0 upstreams`,
    );
    const after = JSON.parse(await readFile(file.path, 'utf8'));
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect(after.server).toEqual(before.server);
    expect(after.tools.map((t: { name: string }) => t.name)).toEqual(['second', 'third']);
    expect(await checkFleetSource(loadConfigFile(file.path), base)).toMatch(/the file holds the same sections$/);
  });
});
