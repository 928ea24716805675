import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { checkAllSecrets } from '../config/check.js';
import { configJsonSchema, loadConfigFile } from '../config/index.js';
import { defaultDeps } from '../deps.js';
import { out, type Globals } from './output.js';

/** With DATABASE_URL (and XAA_CONFIG_SOURCE not "file"), tools, resources and upstreams are the shared store's (docs/fleet.md). */
const fleetStore = () => {
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const source = process.env.XAA_CONFIG_SOURCE || (databaseUrl ? 'store' : 'file');
  return { databaseUrl, source, schema: process.env.XAA_STORE_SCHEMA || undefined };
};

/** `config check|export|import|schema`. */
export function registerConfigCommands(program: Command, globals: Globals): void {
  const config = program
    .command('config')
    .description('validate the config, write its JSON Schema, or move tools, resources and upstreams between the file and the store shared by a fleet');
  config
    .command('check')
    .argument('[file]', 'config file (default: --config)')
    .description(
      "validate mcp.config.json: schema, references between sections, and that every secret can be read; with DATABASE_URL also which source is in force (the shared store's revision) and that it is valid here",
    )
    .action(async (file?: string) => {
      const path = file ?? globals().config;
      const rt = loadConfigFile(path);
      const secrets = checkAllSecrets(rt);
      const c = rt.config;
      out.stdout(
        `OK: ${resolve(path)}: ${c.tools.length} tools, ${Object.keys(c.resources).length} resources, ${c.upstreams.length} upstream MCP servers, ${secrets} secrets readable; audit log in ${rt.auditDir}`,
      );
      const fleet = fleetStore();
      if (fleet.source === 'store' && fleet.databaseUrl) {
        const { checkFleetSource } = await import('../admin/config-transfer.js');
        out.stdout(
          await checkFleetSource(rt, {
            configPath: path,
            databaseUrl: fleet.databaseUrl,
            ...(fleet.schema ? { schema: fleet.schema } : {}),
            deps: defaultDeps,
          }),
        );
      } else {
        out.stdout(`config source: ${resolve(path)} (the file is the source of truth${fleet.databaseUrl ? '; XAA_CONFIG_SOURCE=file' : '; no DATABASE_URL'})`);
      }
    });
  config
    .command('export')
    .description("write the fleet's tools, resources and upstreams from the shared store (DATABASE_URL) into the config file, keeping its other sections")
    .option('--out <file>', 'write the whole config to this file instead; "-" prints only the three sections as JSON')
    .option('--embedded', 'use the embedded store in server.dataDir instead of DATABASE_URL (stop the gateway first)')
    .action(async (o: { out?: string; embedded?: boolean }) => {
      const { runConfigExport } = await import('../admin/config-transfer.js');
      const fleet = fleetStore();
      process.exitCode = await runConfigExport(
        {
          configPath: globals().config,
          ...(fleet.databaseUrl && !o.embedded ? { databaseUrl: fleet.databaseUrl } : {}),
          ...(o.embedded ? { embedded: true } : {}),
          ...(fleet.schema ? { schema: fleet.schema } : {}),
          ...(o.out ? { out: o.out } : {}),
          deps: defaultDeps,
        },
        out,
      );
    });
  config
    .command('import')
    .argument('[file]', 'config file whose tools, resources and upstreams to import (default: --config)')
    .description(
      "make the file's tools, resources and upstreams the next revision of the fleet config in the shared store (DATABASE_URL); every running instance applies it within a second; audited",
    )
    .option('--if-revision <n>', 'only if the store is still at this revision (from `config export` or `admin config`)', (v) => Number.parseInt(v, 10))
    .option('--embedded', 'use the embedded store in server.dataDir instead of DATABASE_URL (stop the gateway first)')
    .action(async (file: string | undefined, o: { ifRevision?: number; embedded?: boolean }) => {
      const { runConfigImport } = await import('../admin/config-transfer.js');
      const fleet = fleetStore();
      process.exitCode = await runConfigImport(
        {
          configPath: globals().config,
          ...(file ? { file } : {}),
          ...(fleet.databaseUrl && !o.embedded ? { databaseUrl: fleet.databaseUrl } : {}),
          ...(o.embedded ? { embedded: true } : {}),
          ...(fleet.schema ? { schema: fleet.schema } : {}),
          ...(o.ifRevision !== undefined ? { ifRevision: o.ifRevision } : {}),
          deps: defaultDeps,
        },
        out,
      );
    });
  config
    .command('schema')
    .description('print the JSON Schema of mcp.config.json (or write mcp.config.schema.json)')
    .option('--write [file]', 'write it to a file', false)
    .action((o: { write: string | boolean }) => {
      const text = JSON.stringify(configJsonSchema(), null, 2) + '\n';
      if (o.write === false) {
        out.stdout(text);
        return;
      }
      const file = typeof o.write === 'string' ? o.write : 'mcp.config.schema.json';
      writeFileSync(file, text);
      out.stderr(`wrote ${file}`);
    });
}
