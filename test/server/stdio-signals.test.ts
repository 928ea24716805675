import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_KEY_FILE, readAuditPublicKeys } from '../../src/audit/signing-key.js';
import { verifyAuditDir } from '../../src/audit/verify.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';
import { spawnStdio } from '../../tools/testkit/stdio-process.js';

/**
 * MCP's stdio shutdown (Lifecycle, "stdio"): the client closes stdin, then sends SIGTERM if the server has
 * not exited, and many clients send SIGTERM at once. The gateway, a real child process here, stops the
 * same way on either: exit status 0, the final signed checkpoint over its chain, its lock released.
 */

let env: Env;
beforeAll(async () => {
  env = await startEnv();
  await env.signIn('alice', 'alice-demo-pass');
});
afterAll(() => env?.close());

describe('xaa-gateway stdio stops cleanly', () => {
  it.each([
    ['stdin closed', (c: ChildProcessWithoutNullStreams) => c.stdin.end()],
    ['SIGTERM with stdin still open', (c: ChildProcessWithoutNullStreams) => c.kill('SIGTERM')],
    ['SIGINT with stdin still open', (c: ChildProcessWithoutNullStreams) => c.kill('SIGINT')],
  ])('%s: exit 0, the final checkpoint signs the whole chain, the lock is released', async (how, stop) => {
    const gw = spawnStdio(env, 'alice');
    const init = await gw.initialize('signal-test');
    expect(init.result.protocolVersion).toBe('2025-11-25');
    const call = await gw.request(1, 'tools/call', { name: 'calendar_free_slots', arguments: { date: '2026-12-01' } });
    expect(call.result.isError ?? false).toBe(false);

    stop(gw.child);
    expect(await gw.exited, gw.stderr()).toEqual({ code: 0, signal: null });

    // The desktop user's audit key sits beside the credentials file.
    const keys = await readAuditPublicKeys(join(dirname(env.credentials('alice')), AUDIT_KEY_FILE));
    const report = await verifyAuditDir(env.auditDir, { keys });
    expect(report.ok).toBe(true);
    // This run's chain: the one whose lock this process held (stdio-1, or the next free one).
    const chain = report.chains.find((c) => c.checkpoints?.last.final && c.head?.seq && c.checkpoints.last.seq === c.head.seq);
    expect(chain, JSON.stringify(report.chains)).toBeDefined();
    expect(chain!.checkpoints!.unsealed).toBe(0);
    expect(readdirSync(env.auditDir).filter((n) => n.endsWith('.lock') || n.includes('.lock.'))).toEqual([]);
    if (how !== 'stdin closed') expect(gw.stderr()).toMatch(/"msg":"xaa-gateway stopped"/);
    expect(existsSync(join(env.auditDir, `audit-checkpoints.${chain!.instance}.jsonl`))).toBe(true);
  });
});
