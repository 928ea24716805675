/**
 * One configuration for the fleet (issue 7, point 3): tools, resources and upstreams in the shared
 * store; an admin edit through one instance is in force on the others at their next call (NOTIFY,
 * with the revision poll turned off so only the notification can deliver), fires their
 * onToolsChanged (list_changed), and a stale edit is refused with admin_conflict (409).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigEditor } from '../../src/admin/config-editor.js';
import { applyConfigChange } from '../../src/admin/config-service.js';
import { ConfigStore, loadConfigFile, startFleetConfig } from '../../src/config/index.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { openStore, type Store } from '../../src/store/index.js';
import { MemorySink } from '../server/http/harness.js';
import { callTool, dropSchema, fleetConfigJson, KEY, median, newSchema, skipPostgres, startInstance, tempConfig, type Instance } from './helpers.js';

const admin = { kind: 'admin' as const, via: 'token' as const };
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function logs(): { lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }>; logger: Logger } {
  const lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, ...(fields ? { fields } : {}) });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

describe.skipIf(skipPostgres)('fleet config on PostgreSQL: two instances, one schema', () => {
  it('the first instance seeds the store from its file (once); the second finds it and the store wins over its own file', async () => {
    const schema = newSchema();
    cleanups.push(() => dropSchema(schema));
    const fileA = await tempConfig(fleetConfigJson(['cal_today', 'cal_create']));
    const fileB = await tempConfig(fleetConfigJson(['cal_other'])); // a stale file on B
    cleanups.push(fileA.close, fileB.close);
    const logA = logs();
    const logB = logs();
    const a = await startInstance('A', { schema, configPath: fileA.path, pollMs: 0, logger: logA.logger });
    cleanups.push(a.close);
    const b = await startInstance('B', { schema, configPath: fileB.path, pollMs: 0, logger: logB.logger });
    cleanups.push(b.close);
    for (const i of [a, b]) {
      expect(i.config.source).toBe('store');
      expect(i.config.current.fleet).toMatchObject({ revision: 1, updatedBy: `seeded from ${fileA.path}` });
      expect(i.config.current.config.tools.map((t) => t.name)).toEqual(['cal_today', 'cal_create']);
    }
    expect(logA.lines.find((l) => l.msg.startsWith('config:'))).toMatchObject({
      level: 'info',
      msg: expect.stringContaining('seeded from the file'),
      fields: { source: 'store', revision: 1 },
    });
    expect(logB.lines.find((l) => l.msg.startsWith('config:'))).toMatchObject({
      level: 'info',
      msg: expect.stringContaining('come from the shared store'),
      fields: { source: 'store', revision: 1 },
    });
    expect(logB.lines.find((l) => l.level === 'warn')?.msg).toMatch(/differ from the shared store's, which win; `xaa-gateway config export`/);
    // B's own settings still come from its file (instance-local).
    expect(b.config.current.path).toBe(fileB.path);
  });

  it('instances starting together on an empty store seed exactly one revision 1', async () => {
    const schema = newSchema();
    cleanups.push(() => dropSchema(schema));
    const files = await Promise.all([tempConfig(fleetConfigJson(['t_one'])), tempConfig(fleetConfigJson(['t_two'])), tempConfig(fleetConfigJson(['t_three']))]);
    cleanups.push(...files.map((f) => f.close));
    // The migrations first (their own lock), then the seeds race.
    await (
      await openStore({
        databaseUrl: process.env.XAA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
        dataDir: '/unused',
        schema,
        encryptionKey: KEY,
      })
    ).close();
    const all = await Promise.all(files.map((f, n) => startInstance(`I${n}`, { schema, configPath: f.path, pollMs: 0 })));
    cleanups.push(...all.map((i) => i.close));
    const revisions = all.map((i) => i.config.current.fleet?.revision);
    expect(revisions).toEqual([1, 1, 1]);
    const names = new Set(all.map((i) => i.config.current.config.tools[0]!.name));
    expect(names.size).toBe(1);
  });

  it('an admin disables a tool through A: the next call through B is refused (NOTIFY only, poll off), B fires onToolsChanged; 5 edits measured', async () => {
    const schema = newSchema();
    cleanups.push(() => dropSchema(schema));
    const fileA = await tempConfig();
    const fileB = await tempConfig();
    cleanups.push(fileA.close, fileB.close);
    const a = await startInstance('A', { schema, configPath: fileA.path, pollMs: 0 });
    cleanups.push(a.close);
    const b = await startInstance('B', { schema, configPath: fileB.path, pollMs: 0 });
    cleanups.push(b.close);
    expect(await callTool(b, 'cal_today')).toMatchObject({ denied: false });

    const latencies: number[] = [];
    for (let n = 0; n < 5; n++) {
      const enabled = n % 2 === 1; // disable, enable, disable, ...
      const { version } = await a.editor.read();
      const changesBefore = b.toolsChanged.length;
      const t0 = performance.now();
      const r = await applyConfigChange(
        { editor: a.editor, audit: a.audit },
        { actor: admin, kind: 'tools', op: 'patch', name: 'cal_today', body: { enabled }, version },
      );
      expect(r.revision).toBe(2 + n);
      // In force on A before the answer.
      expect(a.config.current.fleet?.revision).toBe(2 + n);
      await expect.poll(() => b.config.current.fleet?.revision, { timeout: 5_000, interval: 1 }).toBe(2 + n);
      latencies.push(performance.now() - t0);
      expect(b.toolsChanged.length).toBe(changesBefore + 1);
      expect(b.config.current.config.tools.find((t) => t.name === 'cal_today')?.enabled).toBe(enabled);
      const call = await callTool(b, 'cal_today');
      expect(call.denied).toBe(!enabled);
      if (!enabled) expect(call.text).toContain('tool "cal_today" is disabled');
    }
    // The refusal on B is audited there like any denied call.
    expect(
      b.audit.records.filter((r) => (r as { decision?: string }).decision === 'deny' || (r as { phase?: string; outcome?: string }).outcome === 'denied')
        .length,
    ).toBeGreaterThan(0);
    console.log(
      `[fleet] edit on A -> in force on B, LISTEN up, poll off: median ${median(latencies).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms over ${latencies.length} edits`,
    );
    // Every change has its audit record on A, naming the store and the revision it made.
    const records = a.audit.records.filter((r) => (r as { type?: string }).type === 'admin_action') as unknown as Array<{
      action: string;
      target: Record<string, unknown>;
    }>;
    expect(records.map((r) => [r.action, r.target.revision])).toEqual([2, 3, 4, 5, 6].map((rev) => ['tool.update', rev]));
    expect(records[0]!.target).toMatchObject({ tool: 'cal_today', path: 'tools[0]', store: `test store ${schema}` });
    expect(records[0]!.target).not.toHaveProperty('file');
  });

  it('a stale edit (If-Match of an older revision) is refused with admin_conflict on either instance; nothing is written or audited', async () => {
    const schema = newSchema();
    cleanups.push(() => dropSchema(schema));
    const fileA = await tempConfig();
    const fileB = await tempConfig();
    cleanups.push(fileA.close, fileB.close);
    const a = await startInstance('A', { schema, configPath: fileA.path, pollMs: 0 });
    cleanups.push(a.close);
    const b = await startInstance('B', { schema, configPath: fileB.path, pollMs: 0 });
    cleanups.push(b.close);
    const old = await b.editor.read();
    expect(old.revision).toBe(1);
    await applyConfigChange(
      { editor: a.editor, audit: a.audit },
      { actor: admin, kind: 'tools', op: 'patch', name: 'cal_create', body: { description: 'edited on A' }, version: (await a.editor.read()).version },
    );
    for (const i of [a, b]) {
      const err = await applyConfigChange(
        { editor: i.editor, audit: i.audit },
        { actor: admin, kind: 'tools', op: 'delete', name: 'cal_today', version: old.version },
      ).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'admin_conflict', details: { revision: 2 } });
      expect((err as Error).message).toMatch(/shared store is at revision 2/);
    }
    expect((await a.store.getFleetConfig())?.revision).toBe(2);
    expect(b.audit.records.filter((r) => (r as { type?: string }).type === 'admin_action')).toEqual([]);
    // Concurrent edits through both instances from the same read: exactly one wins.
    const both = await b.editor.read();
    const results = await Promise.allSettled(
      [a, b].map((i) =>
        applyConfigChange(
          { editor: i.editor, audit: i.audit },
          { actor: admin, kind: 'tools', op: 'patch', name: 'cal_today', body: { title: i.name }, version: both.version },
        ),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'admin_conflict' } });
    expect((await a.store.getFleetConfig())?.revision).toBe(3);
  });

  it('an edit that adds a secret file outside the config directory is refused before any file is read; one inside is accepted', async () => {
    const schema = newSchema();
    cleanups.push(() => dropSchema(schema));
    const file = await tempConfig();
    cleanups.push(file.close);
    const a = await startInstance('A', { schema, configPath: file.path, pollMs: 0 });
    cleanups.push(a.close);
    const resource = (clientSecret: unknown) => ({
      resource: 'https://cal.example/api',
      authorizationServer: 'https://cal.example',
      client: { clientId: 'gw', auth: { method: 'client_secret_basic', clientSecret } },
    });
    const put = async (clientSecret: unknown) =>
      applyConfigChange(
        { editor: a.editor, audit: a.audit },
        { actor: admin, kind: 'resources', op: 'replace', name: 'cal', body: resource(clientSecret), version: (await a.editor.read()).version },
      ).catch((e: unknown) => e);
    for (const ref of [{ file: '/etc/hostname' }, { file: '../outside-secret' }]) {
      expect(await put(ref)).toMatchObject({
        code: 'admin_invalid',
        details: { issues: [{ path: 'resources.cal.client.auth.clientSecret', message: expect.stringContaining('outside the config directory') }] },
      });
    }
    await writeFile(join(file.dir, 'cal-secret'), 'from-a-file\n');
    const ok = await put({ file: 'cal-secret' });
    expect(ok).toMatchObject({ revision: 2 });
    expect(a.config.current.resourceClients.get('cal')?.auth).toMatchObject({ clientSecret: 'from-a-file' });
  });

  it('a revision that cannot be used on B (its secret file is missing there) is refused on B; B keeps the last good config and says why', async () => {
    const schema = newSchema();
    cleanups.push(() => dropSchema(schema));
    const fileA = await tempConfig();
    const fileB = await tempConfig();
    cleanups.push(fileA.close, fileB.close);
    await writeFile(join(fileA.dir, 'cal-secret'), 'only-on-a\n');
    const a = await startInstance('A', { schema, configPath: fileA.path, pollMs: 0 });
    cleanups.push(a.close);
    const invalid: string[] = [];
    const b = await startInstance('B', { schema, configPath: fileB.path, pollMs: 0 });
    cleanups.push(b.close);
    b.config.subscribe({ onInvalid: (m) => invalid.push(m) });
    const { version } = await a.editor.read();
    await applyConfigChange(
      { editor: a.editor, audit: a.audit },
      { actor: admin, kind: 'resources', op: 'patch', name: 'cal', body: { client: { auth: { clientSecret: { env: null, file: 'cal-secret' } } } }, version },
    );
    await expect.poll(() => invalid.length, { timeout: 5_000, interval: 5 }).toBe(1);
    expect(invalid[0]).toMatch(/^the fleet config in the store \(revision 2\) with .*cannot read secret file .*cal-secret/);
    expect(b.config.current.fleet?.revision).toBe(1);
    // Once the operator puts the file there, the next revision applies on B.
    await writeFile(join(fileB.dir, 'cal-secret'), 'on-b-too\n');
    await applyConfigChange(
      { editor: a.editor, audit: a.audit },
      { actor: admin, kind: 'tools', op: 'patch', name: 'cal_today', body: { title: 'Today' }, version: (await a.editor.read()).version },
    );
    await expect.poll(() => b.config.current.fleet?.revision, { timeout: 5_000, interval: 5 }).toBe(3);
    expect(b.config.current.resourceClients.get('cal')?.auth).toMatchObject({ clientSecret: 'on-b-too' });
  });

  it("a hand edit of B's file (instance settings) keeps the store's tools in force; the file's own tools stay ignored", async () => {
    const schema = newSchema();
    cleanups.push(() => dropSchema(schema));
    const fileA = await tempConfig();
    const fileB = await tempConfig();
    cleanups.push(fileA.close, fileB.close);
    const a = await startInstance('A', { schema, configPath: fileA.path, pollMs: 0 });
    cleanups.push(a.close);
    const b = await startInstance('B', { schema, configPath: fileB.path, pollMs: 0 });
    cleanups.push(b.close);
    const json = fleetConfigJson(['only_in_file']);
    (json.server as Record<string, unknown>).accessTokenTtlSeconds = 300;
    await writeFile(fileB.path, JSON.stringify(json));
    expect(b.config.reload()).toBe(true);
    expect(b.config.current.config.server?.accessTokenTtlSeconds).toBe(300);
    expect(b.config.current.config.tools.map((t) => t.name)).toEqual(['cal_today', 'cal_create']);
    expect(b.config.current.fleet?.revision).toBe(1);
  });
});

describe('fleet config on the embedded store (XAA_CONFIG_SOURCE=store without DATABASE_URL)', () => {
  let dir: string;
  let store: Store;
  it('seeds, edits and reports like PostgreSQL (one process: the local notification)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'xaa-fleet-pglite-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    store = await openStore({ dataDir: join(dir, 'store'), encryptionKey: KEY });
    cleanups.push(() => store.close());
    const file = await tempConfig();
    cleanups.push(file.close);
    const a: Instance = await startInstance('A', { configPath: file.path, pollMs: 0, pglite: store });
    cleanups.push(a.close);
    expect(a.config.current.fleet).toMatchObject({ revision: 1 });
    expect(store.listenStatus?.()).toBeUndefined();
    // A second ConfigStore on the same store object (two services, one process) follows the edit.
    const other = new ConfigStore(loadConfigFile(file.path));
    const sync = await startFleetConfig({ config: other, store, logger: silentLogger, where: 'embedded', refreshMs: 0 });
    cleanups.push(async () => sync.close());
    const { version } = await a.editor.read();
    const r = await applyConfigChange(
      { editor: a.editor, audit: new MemorySink() },
      { actor: admin, kind: 'tools', op: 'delete', name: 'cal_create', version },
    );
    expect(r.revision).toBe(2);
    await expect.poll(() => other.current.config.tools.map((t) => t.name), { timeout: 5_000, interval: 5 }).toEqual(['cal_today']);
    // The file is untouched: the store is the source now.
    expect(JSON.parse(await readFile(file.path, 'utf8')).tools).toHaveLength(2);
    expect(new ConfigEditor({ config: other, logger: silentLogger }).source).toBe('store');
  });
});
