import { z } from 'zod';
import { GatewayConfig } from './schema.js';

/**
 * mcp.config.schema.json for editors, generated from the zod schema (the input side, so fields with
 * defaults are optional). Cross-field rules (known resource names, path parameters) are checked by
 * `xaa-gateway config check`, not by editors.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(GatewayConfig, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  return { ...schema, $id: 'https://xaa-gateway.dev/mcp.config.schema.json', title: 'xaa-gateway mcp.config.json' };
}
