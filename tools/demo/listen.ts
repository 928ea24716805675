import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback listener whose handler is set after it is bound: with port 0 the origin (and so the
 * issuer every app is built around) is only known once the socket listens.
 */
export interface Listener {
  origin: string;
  setHandler(handler: (req: Request) => Response | Promise<Response>): void;
  close(): Promise<void>;
}

export async function listen(host: string, port: number): Promise<Listener> {
  let handler: (req: Request) => Response | Promise<Response> = () => new Response('starting', { status: 503 });
  const server = createAdaptorServer({ fetch: (req: Request) => handler(req) }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    origin: `http://${host}:${bound}`,
    setHandler: (h) => {
      handler = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
