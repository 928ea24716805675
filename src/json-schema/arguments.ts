import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { GatewayError } from '../errors.js';

/**
 * Tool arguments are checked against the tool's inputSchema (JSON Schema draft 2020-12, the dialect
 * MCP tool schemas default to) before anything else happens for the call: no token is minted for
 * a call that cannot be made.
 */

const DRAFT_2020_12 = 'https://json-schema.org/draft/2020-12/schema';
/** Upstream MCP servers built on the SDK's zod conversion declare draft-07; their tools must validate too. */
const DRAFT_07 = 'http://json-schema.org/draft-07/schema';
/** Enough to name every problem of a real call; more only buries the first ones. */
const MAX_REPORTED = 20;

const AJV_OPTIONS = {
  allErrors: true,
  strict: false,
  // 2020-12 makes `format` an annotation unless a format-assertion vocabulary is opted into; no
  // format library is a dependency of the gateway, so formats are not asserted (and not warned about).
  validateFormats: false,
  // Schemas with an $id must not collide across tools or across hot reloads of the config.
  addUsedSchema: false,
} as const;
const ajv2020 = new Ajv2020(AJV_OPTIONS);
const ajv07 = new Ajv(AJV_OPTIONS);

function dialectOf(schema: Record<string, unknown>): { ajv: Ajv; name: string } | undefined {
  const declared = typeof schema.$schema === 'string' ? schema.$schema.replace(/#$/, '') : schema.$schema;
  if (declared === undefined || declared === DRAFT_2020_12) return { ajv: ajv2020, name: 'draft 2020-12' };
  if (declared === DRAFT_07) return { ajv: ajv07, name: 'draft-07' };
  return undefined;
}

const validators = new WeakMap<object, ValidateFunction>();

function compile(schema: Record<string, unknown>): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) {
    const ajv = dialectOf(schema)!.ajv;
    validate = ajv.compile(schema);
    // Ajv keeps a strong reference to every compiled schema; the WeakMap above is the cache, so
    // hot reloads do not accumulate old schemas inside Ajv.
    ajv.removeSchema(schema);
    validators.set(schema, validate);
  }
  return validate;
}

/**
 * Returns a function that checks the arguments of a call to `tool` and returns them, or throws
 * GatewayError('invalid_arguments') naming each bad field by JSON pointer. Missing arguments
 * (MCP `arguments` is optional) are treated as `{}`. The arguments are not modified (no coercion,
 * no defaults). Compiles eagerly: an invalid inputSchema throws `config_invalid` here.
 */
export function compileArgumentValidator(tool: { name: string; inputSchema: Record<string, unknown> }): (args: unknown) => Record<string, unknown> {
  const problem = validateInputSchema(tool.inputSchema);
  if (problem) throw new GatewayError('config_invalid', `inputSchema of tool "${tool.name}" ${problem}`);
  const validate = compile(tool.inputSchema);
  return (args: unknown) => {
    const value = args === undefined ? {} : args;
    if (validate(value) && isPlainObject(value)) return value;
    const problems = validate.errors?.length ? describeErrors(validate.errors) : ['arguments must be object'];
    throw new GatewayError('invalid_arguments', `invalid arguments for tool "${tool.name}": ${problems.join('; ')}`, {
      details: { tool: tool.name, problems },
    });
  };
}

/**
 * Checks that `schema` is a usable JSON Schema (draft 2020-12). Returns undefined when it is, else
 * a readable sentence such as `is not a valid JSON Schema (draft 2020-12): /properties/age/type must be ...`
 * for `config check` to prefix with the config path.
 */
export function validateInputSchema(schema: unknown): string | undefined {
  if (!isPlainObject(schema)) return 'must be a JSON Schema object';
  // Checked once per schema object: a config revision (or an upstream's tools/list) makes new
  // objects, so a changed schema is checked again; an unchanged one is not re-checked per call.
  if (validators.has(schema)) return undefined;
  const dialect = dialectOf(schema);
  if (!dialect) {
    return `declares $schema ${JSON.stringify(schema.$schema)}; the gateway validates JSON Schema draft 2020-12 (default) and draft-07: remove "$schema" or set it to "${DRAFT_2020_12}"`;
  }
  if (!dialect.ajv.validateSchema(schema)) {
    const problems = describeErrors(dialect.ajv.errors ?? [], 'schema');
    return `is not a valid JSON Schema (${dialect.name}): ${problems.join('; ')}`;
  }
  try {
    compile(schema);
  } catch (e) {
    return `cannot be compiled: ${e instanceof Error ? e.message : String(e)}`;
  }
  return undefined;
}

/** One sentence per Ajv error, deduplicated, each naming the field by JSON pointer (RFC 6901). */
function describeErrors(errors: readonly ErrorObject[], root = 'arguments'): string[] {
  const out = new Set<string>();
  for (const e of errors) {
    out.add(describeError(e, root));
  }
  const all = [...out];
  return all.length > MAX_REPORTED ? [...all.slice(0, MAX_REPORTED), `and ${all.length - MAX_REPORTED} more`] : all;
}

function describeError(e: ErrorObject, root: string): string {
  const at = e.instancePath;
  const child = (name: unknown) => `${at}/${escapePointer(String(name))}`;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${child(params.missingProperty)} is required`;
    case 'additionalProperties':
      return `${child(params.additionalProperty)} is not allowed`;
    case 'unevaluatedProperties':
      return `${child(params.unevaluatedProperty)} is not allowed`;
    case 'dependentRequired':
      return `${child(params.missingProperty)} is required when ${child(params.property)} is present`;
    case 'enum':
      return `${at || root} must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `${at || root} must be ${JSON.stringify(params.allowedValue)}`;
    default:
      return `${at || root} ${e.message ?? `fails "${e.keyword}"`}`;
  }
}

function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
