import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CIMD_CA_FILE, CIMD_KEY_FILE } from '../server/http/served-gateway.js';

/**
 * Tool operations over https with the default client (node:http's https agent), in a child process so
 * that the certificate (self-signed, for IP 127.0.0.1) is trusted the way an operator trusts an internal
 * CA: NODE_EXTRA_CA_CERTS.
 */

const run = promisify(execFile);

let server: Server;
let url: string;
let served = 0;

beforeAll(async () => {
  server = createServer({ key: readFileSync(CIMD_KEY_FILE), cert: readFileSync(CIMD_CA_FILE) }, (req, res) => {
    served++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ port: req.socket.remotePort, authorization: req.headers.authorization?.split(' ')[0] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function callTwice(env: NodeJS.ProcessEnv): Promise<Record<string, unknown>[]> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/https-call.ts'), url], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: '', ...env },
  });
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('tool operations over https', () => {
  it('with the CA trusted (NODE_EXTRA_CA_CERTS): both calls answered on one kept-alive TLS connection', async () => {
    const before = served;
    const [first, second] = await callTwice({ NODE_EXTRA_CA_CERTS: CIMD_CA_FILE });
    expect(served - before).toBe(2);
    expect(first).toMatchObject({ status: 200, json: { authorization: 'Bearer' } });
    expect((second?.json as { port: number }).port).toBe((first?.json as { port: number }).port);
  });

  it('with the certificate not trusted: downstream_unreachable naming the TLS failure, and nothing sent', async () => {
    const before = served;
    const [first] = await callTwice({});
    expect(served).toBe(before);
    expect(first).toEqual({
      code: 'downstream_unreachable',
      message: `could not reach ${new URL(url).host} while sending the request: DEPTH_ZERO_SELF_SIGNED_CERT`,
    });
  });
});
