import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_KEY_FILE, readAuditPublicKeys } from '../../src/audit/signing-key.js';
import { verifyAuditDir } from '../../src/audit/verify.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';
import { alive, sharedHostPids, stopSharedHosts } from '../../tools/testkit/share.js';
import { spawnStdio, type StdioProcess } from '../../tools/testkit/stdio-process.js';

/**
 * `xaa-gateway stdio` with several desktop clients of one config and sign-in, each a real child
 * process: the first serves its client itself, the others relay to one shared host (stdio.share), and
 * every call is made and audited as the client's own, in both protocol eras.
 */

let env: Env;
let shareDir: string;
const started: StdioProcess[] = [];

beforeAll(async () => {
  env = await startEnv();
  await env.signIn('alice', 'alice-demo-pass');
  // The host leaves as soon as its last client has: each case starts from none.
  env.writeConfig((c) => (c.stdio = { share: true, shareIdleSeconds: 0 }));
  shareDir = join(env.runtimeDir, 'xaa-gateway');
});
afterEach(async () => {
  for (const p of started.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await stopSharedHosts(shareDir);
});
afterAll(() => env?.close());

function start(args: string[] = [], extraEnv: Record<string, string> = {}): StdioProcess {
  const p = spawnStdio(env, 'alice', { args, env: extraEnv });
  started.push(p);
  return p;
}

/** Started and its session open (so the next one finds it running). */
async function client(name: string, args: string[] = []): Promise<StdioProcess> {
  const p = start(args);
  const init = await p.initialize(name);
  expect(init.result?.protocolVersion, p.stderr()).toBe('2025-11-25');
  return p;
}

let nextId = 1;
async function callOk(p: StdioProcess): Promise<void> {
  const res = await p.request(nextId++, 'tools/call', { name: 'calendar_free_slots', arguments: { date: '2026-12-01' } });
  expect(res.result?.isError ?? false, JSON.stringify(res)).toBe(false);
}

const RELAYED = /"msg":"xaa-gateway stdio: served by the shared host"/;
const relayedTo = (p: StdioProcess): number | undefined => {
  const line = p
    .stderr()
    .split('\n')
    .find((l) => RELAYED.test(l));
  return line ? (JSON.parse(line) as { pid?: number }).pid : undefined;
};

/** The chain (writer instance) of the calls of one agent. */
async function chainsOf(agent: string): Promise<Set<string>> {
  return new Set((await env.audit()).filter((r) => r.agent?.name === agent && r.phase === 'decision').map((r) => r.instance as string));
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('stdio clients of one config and sign-in share one host', () => {
  it('the first is served in its own process, the next two by one shared host; each call is audited as its client', async () => {
    const first = await client('desk-1');
    await callOk(first);
    expect(first.stderr()).toMatch(/"msg":"xaa-gateway stdio ready"/);
    expect(relayedTo(first)).toBeUndefined();

    const second = await client('desk-2');
    const third = await client('desk-3');
    await callOk(second);
    await callOk(third);
    const hosts = sharedHostPids(shareDir);
    expect(hosts).toHaveLength(1);
    expect(relayedTo(second)).toBe(hosts[0]);
    expect(relayedTo(third)).toBe(hosts[0]);
    expect([first, second, third].map((p) => p.child.pid)).not.toContain(hosts[0]);

    // One chain for the host's clients, another for the first's; the agent is each client's own.
    const [c1, c2, c3] = [await chainsOf('desk-1'), await chainsOf('desk-2'), await chainsOf('desk-3')];
    expect(c1.size).toBe(1);
    expect(c2).toEqual(c3);
    expect(c2.size).toBe(1);
    expect([...c2][0]).not.toBe([...c1][0]);

    // The first leaving does not touch the others.
    first.child.stdin.end();
    expect(await first.exited).toEqual({ code: 0, signal: null });
    await callOk(second);

    // The last relayed client leaving stops the host (shareIdleSeconds 0), which signs its chain's end.
    second.child.stdin.end();
    third.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
    expect(await third.exited).toEqual({ code: 0, signal: null });
    await until('the host to exit', () => !alive(hosts[0]!));
    expect(existsSync(join(shareDir, `${readKey()}.sock`))).toBe(false);
    const keys = await readAuditPublicKeys(join(dirname(env.credentials('alice')), AUDIT_KEY_FILE));
    const report = await verifyAuditDir(env.auditDir, { keys });
    expect(report.ok, JSON.stringify(report.chains)).toBe(true);
    const hostChain = report.chains.find((c) => c.instance === [...c2][0]);
    expect(hostChain?.checkpoints?.last.final).toBe(true);
    expect(hostChain?.checkpoints?.last.seq).toBe(hostChain?.head?.seq);
  });

  it('a 2026-07-28 client through the host: requests carry their envelope, no initialize', async () => {
    const first = await client('desk-1');
    const modern = start();
    const res = await modern.request(1, 'tools/call', {
      name: 'calendar_free_slots',
      arguments: { date: '2026-12-01' },
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientCapabilities': {},
        'io.modelcontextprotocol/clientInfo': { name: 'desk-2026', version: '2.0.0' },
      },
    });
    expect(res.result?.isError ?? false, JSON.stringify(res)).toBe(false);
    expect(res.result._meta?.['io.modelcontextprotocol/serverInfo']).toMatchObject({ name: 'xaa-gateway' });
    expect(relayedTo(modern)).toBe(sharedHostPids(shareDir)[0]);
    expect((await chainsOf('desk-2026')).size).toBe(1);
    first.child.stdin.end();
  });

  it('six clients started at once: one serves itself, five share one host, every call answered', async () => {
    const all = await Promise.all(Array.from({ length: 6 }, (_, i) => client(`burst-${i}`)));
    await Promise.all(all.map((p) => callOk(p)));
    const hosts = sharedHostPids(shareDir);
    expect(hosts).toHaveLength(1);
    expect(all.map(relayedTo).filter((pid) => pid !== undefined)).toEqual(Array(5).fill(hosts[0]));
    for (const p of all) p.child.stdin.end();
    expect(await Promise.all(all.map((p) => p.exited))).toEqual(Array(6).fill({ code: 0, signal: null }));
  });

  it("the host killed: its clients exit 1 naming its log; the next client starts a new host over the dead one's socket", async () => {
    const first = await client('desk-1');
    const second = await client('desk-2');
    await callOk(second);
    const [host] = sharedHostPids(shareDir);
    process.kill(host!, 'SIGKILL');
    expect(await second.exited).toEqual({ code: 1, signal: null });
    expect(second.stderr()).toMatch(/the shared host closed this connection; restart the MCP server in your client/);
    expect(second.stderr()).toContain(`${shareDir}/`);

    const third = await client('desk-3');
    await callOk(third);
    const [next] = sharedHostPids(shareDir);
    expect(next).not.toBe(host);
    expect(relayedTo(third)).toBe(next);
    first.child.stdin.end();
    third.child.stdin.end();
  });

  it.each([
    ['--standalone', ['--standalone'], undefined],
    ['stdio.share false', [], false],
  ])('%s: a second client is served in its own process', async (_, args, share) => {
    if (share === false) env.writeConfig((c) => (c.stdio = { share: false }));
    try {
      const first = await client('desk-1');
      const second = await client('desk-2', args);
      await callOk(second);
      expect(relayedTo(second)).toBeUndefined();
      expect(sharedHostPids(shareDir)).toEqual([]);
      expect(await chainsOf('desk-2')).not.toEqual(await chainsOf('desk-1'));
      first.child.stdin.end();
      second.child.stdin.end();
    } finally {
      env.writeConfig((c) => (c.stdio = { share: true, shareIdleSeconds: 0 }));
    }
  });

  it('a share directory open to other users is not used: the client is served in its own process, and told why', async () => {
    const first = await client('desk-1');
    chmodSync(shareDir, 0o755);
    try {
      const second = await client('desk-2');
      await callOk(second);
      expect(relayedTo(second)).toBeUndefined();
      expect(second.stderr()).toContain(`${shareDir} is open to other users (mode 755); chmod 700 it`);
      second.child.stdin.end();
    } finally {
      chmodSync(shareDir, 0o700);
      first.child.stdin.end();
    }
  });
});

/** The key of this env's place: the one socket/log name in the share directory. */
function readKey(): string {
  const log = readdirSync(shareDir).find((n) => n.endsWith('.log'));
  return log!.slice(0, -'.log'.length);
}
