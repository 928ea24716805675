import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { promises as dns } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Outbound GET for URLs that a client chose (Client ID Metadata Documents): only public unicast
 * addresses, checked when the name is resolved and again on connect (a second resolution could
 * answer differently: DNS rebinding), no redirects, a time limit and a size limit. Node-only: it
 * needs the socket's lookup hook, which fetch does not offer.
 */

const BLOCKED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const)
  BLOCKED.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b::', 96], // NAT64: reaches IPv4 addresses
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001::', 32], // Teredo
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: embeds an IPv4 address
  ['fc00::', 7], // unique local (ULA)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const)
  BLOCKED.addSubnet(net, prefix, 'ipv6');

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

export interface AddressPolicy {
  /** Development only: the gateway itself runs on loopback, so loopback clients are allowed. */
  allowLoopback: boolean;
}

/** Why this IP address may not be contacted, or undefined when it is public. */
export function addressProblem(address: string, policy: AddressPolicy): string | undefined {
  const family = isIP(address);
  if (family === 0) return `"${address}" is not an IP address`;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it carries. (BlockList would also
  // match every IPv4 address against a ::ffff:0:0/96 entry, so that range is not listed.)
  const mapped = type === 'ipv6' ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] : undefined;
  if (mapped) return addressProblem(mapped, policy);
  if (type === 'ipv6' && /^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/i.test(address)) return `${address} is an IPv4-mapped address`;
  if (policy.allowLoopback && LOOPBACK.check(address, type)) return undefined;
  return BLOCKED.check(address, type) ? `${address} is a private, loopback, link-local or reserved address` : undefined;
}

export class SsrfRefused extends Error {
  override readonly name = 'SsrfRefused';
}

/** Resolves the host and refuses it unless every address is allowed (before any connection). */
export async function checkHost(hostname: string, policy: AddressPolicy): Promise<void> {
  const host = hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) ? [host] : (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  if (!addresses.length) throw new SsrfRefused(`${hostname} does not resolve`);
  for (const a of addresses) {
    const problem = addressProblem(a, policy);
    if (problem) throw new SsrfRefused(`${hostname} resolves to ${problem}`);
  }
}

/** A socket lookup that refuses disallowed addresses at connect time. */
function guardedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const bad = addresses.map((a) => addressProblem(a.address, policy)).find(Boolean);
      if (bad || !addresses.length) return callback(new SsrfRefused(bad ?? `${hostname} does not resolve`), '', 0);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

export interface GuardedResponse {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export class ResponseTooLarge extends Error {
  override readonly name = 'ResponseTooLarge';
}

export async function guardedGet(url: URL, opts: AddressPolicy & { timeoutMs: number; maxBytes: number; accept: string }): Promise<GuardedResponse> {
  await checkHost(url.hostname, opts);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<GuardedResponse>((resolve, reject) => {
    const req = send(url, {
      method: 'GET',
      headers: { Accept: opts.accept, 'User-Agent': 'xaa-gateway' },
      lookup: guardedLookup(opts),
      agent: false,
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })), opts.timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > opts.maxBytes) {
        req.destroy(new ResponseTooLarge(`the response declares ${declared} bytes (limit ${opts.maxBytes})`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) {
          req.destroy(new ResponseTooLarge(`the response is larger than ${opts.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    req.end();
  });
}
