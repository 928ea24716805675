import { describe, expect, it } from 'vitest';
import { compileArgumentValidator, validateInputSchema } from '../../src/json-schema/arguments.js';
import { isGatewayError } from '../../src/errors.js';

const tool = {
  name: 'calendar_create_meeting',
  inputSchema: {
    type: 'object' as const,
    properties: {
      title: { type: 'string' },
      durationMinutes: { type: 'integer', minimum: 5 },
      visibility: { enum: ['public', 'private'] },
      email: { type: 'string', format: 'email' },
      organizer: {
        type: 'object',
        properties: { id: { type: 'string' }, 'a/b~c': { type: 'number' } },
        required: ['id'],
        additionalProperties: false,
      },
      attendees: { type: 'array', items: { type: 'string' } },
    },
    required: ['title'],
    additionalProperties: false,
  },
};

const validate = compileArgumentValidator(tool);
const prefix = 'invalid arguments for tool "calendar_create_meeting": ';

describe('compileArgumentValidator', () => {
  it.each([
    ['missing required', {}, '/title is required'],
    ['wrong type', { title: 'x', durationMinutes: 30.5 }, '/durationMinutes must be integer'],
    ['several problems, all named', { durationMinutes: 'ten' }, '/title is required; /durationMinutes must be integer'],
    ['minimum', { title: 'x', durationMinutes: 1 }, '/durationMinutes must be >= 5'],
    ['extra property', { title: 'x', room: 'A' }, '/room is not allowed'],
    ['enum', { title: 'x', visibility: 'secret' }, '/visibility must be one of "public", "private"'],
    ['nested required', { title: 'x', organizer: {} }, '/organizer/id is required'],
    ['nested extra property', { title: 'x', organizer: { id: 'u', x: 1 } }, '/organizer/x is not allowed'],
    ['nested key escaped as JSON pointer', { title: 'x', organizer: { id: 'u', 'a/b~c': 'no' } }, '/organizer/a~1b~0c must be number'],
    ['array item', { title: 'x', attendees: ['a', 2] }, '/attendees/1 must be string'],
    ['not an object', 'title', 'arguments must be object'],
    ['an array', [], 'arguments must be object'],
    ['null', null, 'arguments must be object'],
  ])('%s', (_, args, message) => {
    let error: unknown;
    try {
      validate(args);
    } catch (e) {
      error = e;
    }
    expect(isGatewayError(error, 'invalid_arguments')).toBe(true);
    expect((error as Error).message).toBe(prefix + message);
  });

  it.each([
    ['minimal', { title: 'x' }],
    ['full', { title: 'x', durationMinutes: 30, visibility: 'private', organizer: { id: 'u' }, attendees: ['a'] }],
    ['format is an annotation in 2020-12 (strings without format assertion)', { title: 'x', email: 'not-an-email' }],
  ])('accepts %s and returns the same object', (_, args) => {
    expect(validate(args)).toBe(args);
  });

  it('treats absent arguments as {}', () => {
    const noArgs = compileArgumentValidator({ name: 'list', inputSchema: { type: 'object', properties: {} } });
    expect(noArgs(undefined)).toEqual({});
  });

  it('does not modify the arguments (no coercion, no defaults)', () => {
    const v = compileArgumentValidator({
      name: 't',
      inputSchema: { type: 'object', properties: { n: { type: 'integer', default: 3 }, s: { type: 'string' } } },
    });
    expect(() => v({ s: 5 })).toThrow('/s must be string');
    const args = {};
    expect(v(args)).toEqual({});
  });

  it('validates recursive $defs, and two tools may share an $id (hot reload)', () => {
    const schema = {
      type: 'object' as const,
      $id: 'https://example.com/tree',
      $defs: { node: { type: 'object', properties: { n: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#/$defs/node' } } } } },
      properties: { root: { $ref: '#/$defs/node' } },
    };
    const a = compileArgumentValidator({ name: 'a', inputSchema: schema });
    const b = compileArgumentValidator({ name: 'b', inputSchema: structuredClone(schema) });
    expect(() => a({ root: { kids: [{ kids: [{ n: 'x' }] }] } })).toThrow('invalid arguments for tool "a": /root/kids/0/kids/0/n must be integer');
    expect(b({ root: { n: 1 } })).toEqual({ root: { n: 1 } });
  });

  it('refuses to compile an invalid inputSchema with config_invalid', () => {
    let error: unknown;
    try {
      compileArgumentValidator({ name: 'bad', inputSchema: { type: 'object', properties: { a: { type: 'strin' } } } });
    } catch (e) {
      error = e;
    }
    expect(isGatewayError(error, 'config_invalid')).toBe(true);
    expect((error as Error).message).toMatch(
      /^inputSchema of tool "bad" is not a valid JSON Schema \(draft 2020-12\): \/properties\/a\/type must be one of "array"/,
    );
  });
});

describe('validateInputSchema', () => {
  it.each([
    ['valid', { type: 'object', properties: { a: { type: 'string' } } }, undefined],
    ['valid with the 2020-12 $schema', { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object' }, undefined],
    ['not an object', 'object', 'must be a JSON Schema object'],
    ['valid draft-07 (what SDK-built MCP servers declare)', { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object' }, undefined],
    [
      'draft-07 with a bad keyword value',
      { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', required: 'a' },
      'is not a valid JSON Schema (draft-07): /required must be array',
    ],
    [
      'another draft',
      { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object' },
      'declares $schema "http://json-schema.org/draft-04/schema#"; the gateway validates JSON Schema draft 2020-12 (default) and draft-07: remove "$schema" or set it to "https://json-schema.org/draft/2020-12/schema"',
    ],
    ['bad keyword value', { type: 'object', required: 'a' }, 'is not a valid JSON Schema (draft 2020-12): /required must be array'],
    [
      'unresolvable $ref',
      { type: 'object', properties: { a: { $ref: '#/$defs/missing' } } },
      "cannot be compiled: can't resolve reference #/$defs/missing from id #",
    ],
  ])('%s', (_, schema, expected) => {
    expect(validateInputSchema(schema)).toBe(expected);
  });
});
