import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import type { HttpServer } from '../../../src/server/http.js';
import { runServe } from '../../../src/server/serve.js';
import { startEnv, type Env } from '../../../tools/testkit/env.js';
import { serverSection } from './harness.js';

/**
 * Slow requests (issue 11, point 4): a client that sends its headers or its body slowly on purpose is
 * answered 408 and disconnected once server.headersTimeoutSeconds / requestTimeoutSeconds have passed (node's
 * own limits are 60 s and 300 s, checked every 30 s). Over real HTTP on loopback. No test here measures
 * time: each waits for the server to end the connection (the hang guard is vitest's).
 */

let env: Env;
let server: HttpServer;
let port: number;

beforeAll(async () => {
  env = await startEnv();
  env.writeConfig((c) => {
    c.server = { ...serverSection('http://127.0.0.1:9', env.dir), dataDir: join(env.dir, 'store'), headersTimeoutSeconds: 1, requestTimeoutSeconds: 2 };
  });
  server = await runServe({ configPath: env.configPath, port: 0, host: '127.0.0.1', handleSignals: false, logger: silentLogger });
  port = Number(new URL(server.listenUrl).port);
});
afterAll(async () => {
  await server?.shutdown('test done');
  await env?.close();
});

/** Sends `first`, then one byte of `drip` every 200 ms, until the server ends the connection; what it answered. */
function slowClient(first: string, drip: string): Promise<{ answer: string; dripped: number }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let answer = '';
    let dripped = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (answer += d));
    socket.on('error', (e) => (answer ? undefined : reject(e)));
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ answer, dripped });
    });
    socket.on('connect', () => {
      socket.write(first);
      timer = setInterval(() => {
        if (dripped < drip.length && !socket.destroyed) socket.write(drip[dripped++]!);
      }, 200);
    });
  });
}

describe('slow requests are ended', () => {
  it('a body sent a byte at a time -> 408 and the connection closed, the body never complete', async () => {
    // The token endpoint reads the whole form before it answers (/mcp would refuse the missing bearer token first).
    const body = `grant_type=authorization_code&code=${'c'.repeat(400)}`;
    const head = `POST /token HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { answer, dripped } = await slowClient(head, body);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(dripped).toBeLessThan(body.length);
  });

  it('headers sent a byte at a time (slowloris) -> 408 and the connection closed', async () => {
    const headers = `X-Slow: ${'a'.repeat(400)}\r\n\r\n`;
    const { answer, dripped } = await slowClient(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`, headers);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(dripped).toBeLessThan(headers.length);
  });

  it('a request sent at once is served as before', async () => {
    const res = await fetch(`${server.listenUrl}/healthz`);
    expect(res.status).toBe(200);
    await res.body?.cancel();
  });
});
