/**
 * Rendering a page must not put a hook on every promise of the process. On Node 20 and 22 an enabled
 * AsyncLocalStorage installs async_hooks' promise hooks for the rest of the process's life (Node 24
 * propagates context without them): every await of every later tool call then runs JavaScript hooks and
 * allocates for them. hono/jsx's renderer ran each render in one, and /readyz renders a page of each kind,
 * so every instance paid it (10-14% of serve's CPU per call measured side by side); pages are now preact
 * rendered to a string (tsconfig.json, "jsxImportSource").
 *
 * Seen from inside the child: a preloaded module answers SIGUSR2 by writing whether a promise
 * continuation runs in an async resource of its own (promise hooks on) or in none (executionAsyncId 0
 * after an await in a timer callback: off). A second child that installs an async hook with an init
 * callback itself (which turns promise hooks on in every Node version; an AsyncLocalStorage does only before
 * Node 24) is the positive control of the probe.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnv, type Env } from '../../../tools/testkit/env.js';
import { spawnServeWithPreload } from './served-gateway.js';

const PROBE = `import { createHook, executionAsyncId } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';
if (process.env.XAA_TEST_PROMISE_HOOKS === '1') createHook({ init() {} }).enable();
process.on('SIGUSR2', () => {
  setTimeout(async () => {
    await null;
    writeFileSync(process.env.XAA_TEST_PROBE_FILE, executionAsyncId() === 0 ? 'off' : 'on');
  }, 0);
});
`;

let env: Env;
let dir: string;
beforeAll(async () => {
  env = await startEnv();
  dir = mkdtempSync(join(tmpdir(), 'xaa-promise-hooks-'));
  writeFileSync(join(dir, 'probe.mjs'), PROBE);
});
afterAll(async () => {
  await env?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Starts serve with the probe, renders every page kind (/readyz), and returns what the probe saw. */
async function promiseHooksAfterPages(control: boolean): Promise<string> {
  const file = join(dir, `probe-${control ? 'control' : 'serve'}.txt`);
  const { served } = await spawnServeWithPreload(env, join(dir, 'probe.mjs'), {
    XAA_TEST_PROBE_FILE: file,
    XAA_TEST_PROMISE_HOOKS: control ? '1' : '0',
  });
  try {
    // /readyz renders the error page, the consent page and the console's frame (health.ts).
    const ready = await fetch(`${served.listenUrl}/readyz`);
    expect(ready.status).toBe(200);
    process.kill(served.pid, 'SIGUSR2');
    // Readiness of the answer: the file appears; the bound only ends a test whose child never answers.
    for (const deadline = Date.now() + 60_000; !existsSync(file) && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 20));
    return readFileSync(file, 'utf8');
  } finally {
    expect(await served.stop()).toBe(0);
  }
}

describe('serve: rendering its pages leaves promises without hooks', () => {
  it('after /readyz rendered every page kind, promise continuations run without async hooks', async () => {
    expect(await promiseHooksAfterPages(false)).toBe('off');
  });

  it('control: the probe sees the hooks when the process installs an async hook', async () => {
    expect(await promiseHooksAfterPages(true)).toBe('on');
  });
});
