import { describe, expect, it } from 'vitest';
import { buildDownstreamRequest, pathParameterNames } from '../../src/catalog/http-operation.js';
import { HttpOperation, type HttpOperation as Op } from '../../src/config/schema.js';
import { isGatewayError } from '../../src/errors.js';

const op = (o: Record<string, unknown>): Op => HttpOperation.parse(o);

type Row = [name: string, op: Op, args: Record<string, unknown>, url: string, body: string | undefined];

describe('buildDownstreamRequest', () => {
  const get = op({ method: 'GET', url: 'https://api.example.com/v1/items/{id}' });
  it.each<Row>([
    // path encoding: an argument never changes the path structure
    ['plain', get, { id: '42' }, 'https://api.example.com/v1/items/42', undefined],
    ['../x stays one segment', get, { id: '../x' }, 'https://api.example.com/v1/items/..%2Fx', undefined],
    ['a/b stays one segment', get, { id: 'a/b' }, 'https://api.example.com/v1/items/a%2Fb', undefined],
    ['?q=1 is not a query', get, { id: '?q=1' }, 'https://api.example.com/v1/items/%3Fq%3D1', undefined],
    ['# is not a fragment', get, { id: 'a#b' }, 'https://api.example.com/v1/items/a%23b', undefined],
    ['unicode', get, { id: 'café 日本' }, 'https://api.example.com/v1/items/caf%C3%A9%20%E6%97%A5%E6%9C%AC', undefined],
    ['number', get, { id: 7 }, 'https://api.example.com/v1/items/7', undefined],
    ['..x is an ordinary segment', get, { id: '..x' }, 'https://api.example.com/v1/items/..x', undefined],
    // query defaults
    [
      'GET: other args go to the query',
      get,
      { id: '1', q: 'a b', limit: 10, flag: true },
      'https://api.example.com/v1/items/1?q=a+b&limit=10&flag=true',
      undefined,
    ],
    ['GET: undefined and null skipped', get, { id: '1', q: undefined, r: null }, 'https://api.example.com/v1/items/1', undefined],
    ['GET: arrays repeat the parameter', get, { id: '1', tag: ['a', 'b'] }, 'https://api.example.com/v1/items/1?tag=a&tag=b', undefined],
    ['GET: objects as JSON', get, { id: '1', filter: { a: 1 } }, 'https://api.example.com/v1/items/1?filter=%7B%22a%22%3A1%7D', undefined],
    [
      'GET: template query kept',
      op({ method: 'GET', url: 'https://api.example.com/search?v=2' }),
      { q: 'x' },
      'https://api.example.com/search?v=2&q=x',
      undefined,
    ],
    [
      'DELETE: args to the query, no body',
      op({ method: 'DELETE', url: 'https://api.example.com/items/{id}' }),
      { id: '1', hard: true },
      'https://api.example.com/items/1?hard=true',
      undefined,
    ],
    // body defaults
    [
      'POST: other args go to a JSON body',
      op({ method: 'POST', url: 'https://api.example.com/cal/{cal}/events' }),
      { cal: 'c1', title: 'T', n: 2, tags: ['a'] },
      'https://api.example.com/cal/c1/events',
      '{"title":"T","n":2,"tags":["a"]}',
    ],
    ['POST: no args still sends {}', op({ method: 'POST', url: 'https://api.example.com/x' }), {}, 'https://api.example.com/x', '{}'],
    [
      'PATCH: undefined dropped from the body',
      op({ method: 'PATCH', url: 'https://api.example.com/x/{id}' }),
      { id: '1', a: undefined, b: null },
      'https://api.example.com/x/1',
      '{"b":null}',
    ],
    [
      'PUT: args in the query map are not in the body',
      op({ method: 'PUT', url: 'https://api.example.com/x', query: { v: 'version' } }),
      { version: 3, name: 'n' },
      'https://api.example.com/x?v=3',
      '{"name":"n"}',
    ],
    // explicit maps
    [
      'GET: explicit query map renames and drops unmapped',
      op({ method: 'GET', url: 'https://api.example.com/s', query: { q: 'text', 'page[size]': 'size' } }),
      { text: 'hi', size: 5, other: 1 },
      'https://api.example.com/s?q=hi&page%5Bsize%5D=5',
      undefined,
    ],
    [
      'POST: explicit body map renames and drops unmapped',
      op({ method: 'POST', url: 'https://api.example.com/m', body: { summary: 'title', 'x-y': 'n' } }),
      { title: 'T', n: 1, other: 2 },
      'https://api.example.com/m',
      '{"summary":"T","x-y":1}',
    ],
    [
      'DELETE: args of an explicit body are not in the default query',
      op({ method: 'DELETE', url: 'https://api.example.com/m', body: { ids: 'ids' } }),
      { ids: [1, 2] },
      'https://api.example.com/m',
      '{"ids":[1,2]}',
    ],
  ])('%s', (_, operation, args, url, body) => {
    const req = buildDownstreamRequest(operation, args);
    expect(req.method).toBe(operation.method);
    expect(req.url.toString()).toBe(url);
    expect(req.body).toBe(body);
  });

  it.each<[string, Op, Record<string, unknown>, string]>([
    ['missing path parameter', get, {}, 'path parameter {id} is missing'],
    ['null path parameter', get, { id: null }, 'path parameter {id} is missing'],
    ['empty path parameter (would address the collection)', get, { id: '' }, 'path parameter {id} must not be empty'],
    ['object path parameter', get, { id: { a: 1 } }, 'path parameter {id} must be a string, number or boolean'],
    ['.. segment', get, { id: '..' }, 'path parameters of GET https://api.example.com/v1/items/{id} must not form a "." or ".." segment'],
    ['. segment', get, { id: '.' }, 'path parameters of GET https://api.example.com/v1/items/{id} must not form a "." or ".." segment'],
    [
      'two params forming ..',
      op({ method: 'GET', url: 'https://api.example.com/a/{x}{y}/b' }),
      { x: '.', y: '.' },
      'path parameters of GET https://api.example.com/a/{x}{y}/b must not form a "." or ".." segment',
    ],
    [
      'placeholder in the host',
      op({ method: 'GET', url: 'https://{tenant}.example.com/x' }),
      { tenant: 'evil.com' },
      'the arguments would send the request to https://evil.com.example.com instead of https://{tenant}.example.com',
    ],
    [
      'placeholder in the host, invalid',
      op({ method: 'GET', url: 'https://{tenant}.example.com/x' }),
      { tenant: 'a/b' },
      'the arguments do not make a valid URL for GET https://{tenant}.example.com/x',
    ],
  ])('refuses %s with invalid_arguments', (_, operation, args, message) => {
    let error: unknown;
    try {
      buildDownstreamRequest(operation, args);
    } catch (e) {
      error = e;
    }
    expect(isGatewayError(error, 'invalid_arguments')).toBe(true);
    expect((error as Error).message).toBe(message);
  });

  it('refuses a body on GET as a config error', () => {
    expect(() => buildDownstreamRequest(op({ method: 'GET', url: 'https://api.example.com/x', body: { a: 'a' } }), { a: 1 })).toThrow(
      'GET https://api.example.com/x: a GET request cannot have a body; map the arguments to "query"',
    );
  });

  it.each<[string, Op, Record<string, unknown>, Record<string, string>]>([
    ['GET', get, { id: '1' }, { accept: 'application/json' }],
    ['POST with body', op({ method: 'POST', url: 'https://api.example.com/x' }), { a: 1 }, { accept: 'application/json', 'content-type': 'application/json' }],
    [
      'fixed headers',
      op({ method: 'POST', url: 'https://api.example.com/x', headers: { 'X-Api-Version': '2024-01', 'Content-Type': 'application/merge-patch+json' } }),
      { a: 1 },
      { accept: 'application/json', 'content-type': 'application/merge-patch+json', 'x-api-version': '2024-01' },
    ],
    [
      'fixed Accept overrides the default',
      op({ method: 'GET', url: 'https://api.example.com/x', headers: { Accept: 'application/vnd.api+json' } }),
      {},
      { accept: 'application/vnd.api+json' },
    ],
  ])('headers: %s (never Authorization)', (_, operation, args, headers) => {
    const req = buildDownstreamRequest(operation, args);
    expect(req.headers).toEqual(headers);
  });

  it('lists path parameter names', () => {
    expect(pathParameterNames('https://a.example/{x}/b/{y_2}?z={z}')).toEqual(['x', 'y_2', 'z']);
  });
});
