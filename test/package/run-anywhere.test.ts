import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, startEnv, type Env } from '../../tools/testkit/env.js';
import { spawnServe } from '../../tools/testkit/serve.js';
import { freePort, writeServeConfig } from '../server/http/served-gateway.js';

/**
 * `serve` started from another working directory (systemd's WorkingDirectory, a container's `/`).
 * The sources run through a TypeScript loader take the JSX settings from the current directory:
 * from `/` every page fails with 500 "React is not defined" (issue 7). The compiled bin does not
 * depend on the directory, and /readyz reports a gateway whose pages cannot render as not ready.
 */

const RUNS = [
  {
    how: 'the repository bin (compiled dist/)',
    command: (): [string, ...string[]] => [process.execPath, BIN],
    readyz: 200,
    body: { status: 'ready', checks: { config: 'ok', store: 'ok', audit: 'ok', pages: 'ok' } },
    page: 400,
  },
  {
    how: 'src/cli.ts through tsx (how bin ran before the build)',
    command: (): [string, ...string[]] => [process.execPath, '--import', import.meta.resolve('tsx/esm'), join(ROOT, 'src/cli.ts')],
    readyz: 503,
    body: { status: 'not_ready', failing: 'pages', checks: { config: 'ok', store: 'ok', audit: 'ok', pages: 'cannot render: React is not defined' } },
    page: 500,
  },
];

describe('xaa-gateway serve started from /', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv();
  });
  afterAll(async () => {
    await env?.close();
  });

  it.each(RUNS)('$how: /readyz $readyz, an error page $page', async ({ command, readyz, body, page }) => {
    const port = await freePort();
    writeServeConfig(env, port);
    const gw = await spawnServe({ command: command(), configPath: env.configPath, port, cwd: '/' });
    try {
      const ready = await fetch(`${gw.origin}/readyz`);
      expect(ready.status).toBe(readyz);
      expect(await ready.json()).toMatchObject(body);
      // Rendered by the gateway's authorization server (no client to send the error back to).
      const res = await fetch(`${gw.origin}/authorize?response_type=code&client_id=nobody`);
      expect(res.status).toBe(page);
      await res.body?.cancel();
    } finally {
      expect(await gw.stop(), gw.stderr()).toBe(0);
    }
  });
});
