import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { registerAdminCommand } from './admin/cli.js';
import { runAuditQuery, runAuditTail, runAuditVerify } from './audit/cli.js';
import { ExportFileSource, readCheckpointCopies } from './audit/export-source.js';
import { auditKeyFiles, localAuditKeys } from './audit/key-files.js';
import { AuditSigningKey, parseAuditJwks, type AuditJwks } from './audit/signing-key.js';
import { FileAuditSource, type AuditSource } from './audit/source.js';
import type { VerifyOptions } from './audit/verify.js';
import { runAuditExport } from './audit/export.js';
import { ConfigStore, configJsonSchema, DEFAULT_CONFIG_FILE, loadConfigFile } from './config/index.js';
import { defaultDeps } from './deps.js';
import { isGatewayError } from './errors.js';
import { defaultCredentialsPath, readCredentials } from './inbound/credentials.js';
import { logout } from './inbound/local.js';
import { login } from './inbound/login.js';
import { openInBrowser } from './inbound/open-url.js';
import { runStdio } from './server/stdio.js';
import { checkAllSecrets } from './config/check.js';

const out = {
  stdout: (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'),
  stderr: (s: string) => process.stderr.write(s.endsWith('\n') ? s : s + '\n'),
};

const program = new Command('xaa-gateway')
  .description('MCP gateway that calls SaaS tools for the signed-in user with short-lived Cross App Access (ID-JAG) tokens, and audits every call')
  .version('0.1.0')
  .showHelpAfterError()
  .configureHelp({ showGlobalOptions: true })
  .addOption(new Option('-c, --config <file>', 'config file').default(DEFAULT_CONFIG_FILE).env('XAA_CONFIG'))
  .addOption(
    new Option('--credentials <file>', "where `login` keeps the local user's IdP credentials")
      .default(defaultCredentialsPath(), '~/.config/xaa-gateway/credentials.json')
      .env('XAA_CREDENTIALS'),
  );

const globals = () => program.opts<{ config: string; credentials: string }>();

program
  .command('stdio')
  .description('serve MCP over stdin/stdout for a desktop client (Claude Desktop, Claude Code, Cursor); the user is the one signed in with `login`')
  .action(async () => {
    const g = globals();
    await runStdio({ configPath: g.config, credentialsPath: g.credentials });
  });

/** How long `serve` may linger after it stopped before it exits regardless (see the serve action). */
const STOPPED_LINGER_MS = 2_000;

program
  .command('serve')
  .description('serve MCP over Streamable HTTP for many users (remote connectors); needs the "server" section of the config')
  .option('--port <port>', 'listen port (default: server.port; 0 = any free port)', (v) => Number.parseInt(v, 10))
  .option('--host <host>', 'listen address (default: server.host)')
  .action(async (o: { port?: number; host?: string }) => {
    const { runServe } = await import('./server/serve.js');
    const http = await runServe({
      configPath: globals().config,
      host: o.host,
      port: o.port,
      databaseUrl: process.env.DATABASE_URL || undefined,
      redisUrl: process.env.REDIS_URL || undefined,
      configSource: process.env.XAA_CONFIG_SOURCE || undefined,
      storeSchema: process.env.XAA_STORE_SCHEMA || undefined,
    });
    out.stdout(`MCP endpoint: ${http.mcpUrl}  (listening on ${http.listenUrl})`);
    await http.closed;
    // Stopped: audit flushed, store closed. Whatever still holds the event loop (a stream an upstream
    // never ended, a socket) must not keep a stopped gateway alive until its supervisor's SIGKILL.
    const linger = setTimeout(() => {
      const handles = (process as unknown as { _getActiveHandles?: () => object[] })._getActiveHandles?.() ?? [];
      const kinds = handles
        .filter((h) => h !== process.stdout && h !== process.stderr && h !== process.stdin)
        .map((h) => {
          const s = h as { constructor?: { name?: string }; localPort?: number; remotePort?: number; remoteAddress?: string; server?: unknown };
          return s.remotePort !== undefined
            ? `${s.constructor?.name ?? 'Socket'} ${s.server ? 'accepted' : 'outbound'} :${s.localPort} -> ${s.remoteAddress}:${s.remotePort}`
            : (s.constructor?.name ?? 'unknown');
        });
      process.stderr.write(`${JSON.stringify({ level: 'warn', msg: 'stopped, but handles were still open: exiting anyway', handles: kinds })}\n`);
      process.exit(process.exitCode ?? 0);
    }, STOPPED_LINGER_MS);
    linger.unref();
  });

program
  .command('login')
  .description('sign in at the enterprise IdP (authorization code + PKCE, loopback redirect) so that stdio calls are made for you')
  .option('--no-browser', 'only print the sign-in URL')
  .option('--port <port>', 'loopback port for the redirect (default: any free port)', (v) => Number.parseInt(v, 10))
  .action(async (o: { browser: boolean; port?: number }) => {
    const g = globals();
    const runtime = loadConfigFile(g.config);
    const creds = await login({
      runtime,
      credentialsPath: g.credentials,
      deps: defaultDeps,
      port: o.port,
      openUrl: async (url) => {
        out.stderr(`Sign in at ${runtime.config.idp.issuer}:\n\n  ${url}\n`);
        if (o.browser) await openInBrowser(url).catch(() => out.stderr('(could not open a browser; open the URL above yourself)'));
        out.stderr('Waiting for the sign-in to finish...');
      },
    });
    out.stdout(`Signed in as ${creds.email ?? creds.sub} (${creds.issuer}). Credentials saved to ${g.credentials} (mode 0600).`);
  });

program
  .command('logout')
  .description('revoke the refresh token at the IdP (where supported) and delete the local credentials')
  .action(async () => {
    const g = globals();
    const config = new ConfigStore(loadConfigFile(g.config));
    const r = await logout({ credentialsPath: g.credentials, config, deps: defaultDeps });
    if (!r.deleted) {
      out.stdout('Not signed in; nothing to do.');
      return;
    }
    out.stdout(
      `Signed out; deleted ${g.credentials}.${r.revoked ? ' The refresh token was revoked at the IdP.' : r.revokeError ? ` The refresh token was not revoked: ${r.revokeError}.` : ''}`,
    );
  });

program
  .command('whoami')
  .description('show who stdio calls are made for')
  .action(async () => {
    const creds = await readCredentials(globals().credentials);
    if (!creds) {
      out.stdout('Not signed in. Run `xaa-gateway login`.');
      process.exitCode = 1;
      return;
    }
    out.stdout(
      `${creds.email ?? creds.sub} (sub ${creds.sub}) at ${creds.issuer}; ID token valid until ${new Date(creds.idTokenExpiresAt).toISOString()}${creds.refreshToken ? ', renewable' : ''}`,
    );
  });

const config = program
  .command('config')
  .description('validate the config, write its JSON Schema, or move tools, resources and upstreams between the file and the store shared by a fleet');
/** With DATABASE_URL (and XAA_CONFIG_SOURCE not "file"), tools, resources and upstreams are the shared store's (docs/fleet.md). */
const fleetStore = () => {
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const source = process.env.XAA_CONFIG_SOURCE || (databaseUrl ? 'store' : 'file');
  return { databaseUrl, source, schema: process.env.XAA_STORE_SCHEMA || undefined };
};
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
      const { checkFleetSource } = await import('./admin/config-transfer.js');
      out.stdout(
        await checkFleetSource(rt, { configPath: path, databaseUrl: fleet.databaseUrl, ...(fleet.schema ? { schema: fleet.schema } : {}), deps: defaultDeps }),
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
    const { runConfigExport } = await import('./admin/config-transfer.js');
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
    const { runConfigImport } = await import('./admin/config-transfer.js');
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

/**
 * What the audit commands read: the directory given, else the fleet's audit table when the gateway writes
 * there (DATABASE_URL and audit.sink not "file"), else the config's audit.dir.
 */
const auditSource = async (dir?: string): Promise<AuditSource> => {
  if (dir) return new FileAuditSource(dir);
  let rt: ReturnType<typeof loadConfigFile> | undefined;
  try {
    rt = loadConfigFile(globals().config);
  } catch {
    rt = undefined;
  }
  const databaseUrl = process.env.DATABASE_URL || undefined;
  if (databaseUrl && (rt?.config.audit.sink ?? 'postgres') === 'postgres') {
    const { PgAuditSource } = await import('./audit/pg-source.js');
    return new PgAuditSource({ databaseUrl, ...(process.env.XAA_STORE_SCHEMA ? { schema: process.env.XAA_STORE_SCHEMA } : {}) });
  }
  return new FileAuditSource(rt?.auditDir ?? resolve('data/audit'));
};
/** Where this host keeps audit signing keys (see auditKeyFiles). */
const auditKeyFilesHere = (): string[] => {
  let rt: ReturnType<typeof loadConfigFile> | undefined;
  try {
    rt = loadConfigFile(globals().config);
  } catch {
    rt = undefined;
  }
  return auditKeyFiles(rt, globals().credentials);
};

/**
 * The keys verify trusts: --keys (pinned: the guarantee), else this host's key files, else the keys the
 * instances published in the database (a database administrator could have replaced those: said so).
 */
const trustedAuditKeys = async (keysFile: string | undefined, src: AuditSource): Promise<Pick<VerifyOptions, 'keys' | 'keysFrom'>> => {
  if (keysFile) return { keys: parseAuditJwks(readFileSync(keysFile, 'utf8'), keysFile), keysFrom: keysFile };
  const { keys: found, from } = await localAuditKeys(auditKeyFilesHere());
  const published = (src as { keys?: () => Promise<AuditJwks> }).keys;
  if (published) {
    const k = await published.call(src);
    const extra = k.keys.filter((x) => !found.keys.some((y) => y.kid === x.kid));
    if (extra.length) {
      found.keys.push(...extra);
      from.push('the audit_keys table (trusted as far as the database is: pin them with --keys)');
    }
  }
  return found.keys.length ? { keys: found, keysFrom: from.join(', ') } : {};
};

/** Run an audit command on its source, closing a database source after. */
const withAuditSource = async (dir: string | undefined, run: (source: AuditSource) => Promise<number>, exportFile?: string): Promise<number> => {
  const source: AuditSource = exportFile ? new ExportFileSource(exportFile) : await auditSource(dir);
  try {
    return await run(source);
  } finally {
    await source.close?.();
  }
};
const audit = program.command('audit').description('verify, follow and search the hash-chained audit log');
audit
  .command('verify')
  .argument('[dir]', 'audit directory (default: the audit table with DATABASE_URL, else audit.dir of the config)')
  .option(
    '--keys <file>',
    'trusted audit public keys (JWKS from `audit keys`, kept off this host); default: the local audit signing key file, else the keys published in the database',
  )
  .option(
    '--checkpoints <file>',
    "a second party's copy of the checkpoints (audit.checkpoints.copyFile, or the gateway's JSON log): each must also be in the log",
  )
  .option('--export <file>', 'verify a JSON Lines export (`audit export --format jsonl`) instead of the log, e.g. offline with --keys')
  .description(
    "check every instance's hash chain and its signed checkpoints; prints OK with the counts and heads, or the first break (chain, file or table, line or seq, reason) and exits 1",
  )
  .action(async (dir: string | undefined, o: { keys?: string; checkpoints?: string; export?: string }) => {
    process.exitCode = await withAuditSource(
      dir,
      async (src) => {
        try {
          const keys = await trustedAuditKeys(o.keys, src);
          return await runAuditVerify(src, out, {
            ...keys,
            ...(o.checkpoints ? { copies: await readCheckpointCopies(o.checkpoints) } : {}),
          });
        } catch (e) {
          out.stderr(`error: ${(e as Error).message}`);
          return 2;
        }
      },
      o.export,
    );
  });
audit
  .command('keys')
  .description('print the audit public keys (JWKS) that verify checkpoints: keep a copy off this host and verify with --keys')
  .action(async () => {
    process.exitCode = await withAuditSource(undefined, async (src) => {
      const keys = await trustedAuditKeys(undefined, src);
      if (!keys.keys?.keys.length) {
        out.stderr(
          'error: no audit keys found: the gateway creates its key on first start (audit.signingKeyFile, default audit-signing-key.json in server.dataDir or beside the credentials file)',
        );
        return 2;
      }
      out.stdout(JSON.stringify(keys.keys, null, 2));
      out.stderr(`from ${keys.keysFrom}`);
      return 0;
    });
  });
audit
  .command('rotate-key')
  .description(
    'start a new audit signing key; the old public keys stay in the key file for older checkpoints. Restart the gateway to sign with it, then publish the new public keys (`audit keys`)',
  )
  .action(async () => {
    const path = auditKeyFilesHere()[0];
    if (!path) {
      out.stderr('error: no audit signing key file in this config (audit.signingKeyFile, or server.dataDir)');
      process.exitCode = 2;
      return;
    }
    const key = await AuditSigningKey.rotate(path);
    out.stdout(
      `new audit signing key ${key.kid} in ${path}; ${key.jwks.keys.length} public key(s) kept. Restart the gateway to use it and keep a copy of \`xaa-gateway audit keys\` off this host`,
    );
  });
audit
  .command('tail')
  .argument('[dir]', 'audit directory')
  .option('-n, --lines <n>', 'how many records', (v) => Number.parseInt(v, 10), 20)
  .option('-f, --follow', 'keep printing new records')
  .description('print the last records as JSON lines')
  .action(async (dir: string | undefined, o: { lines: number; follow?: boolean }) => {
    process.exitCode = await withAuditSource(dir, (src) => runAuditTail(src, o, out));
  });
audit
  .command('query')
  .argument('[dir]', 'audit directory')
  .option('--user <user>', 'sub or email')
  .option('--agent <agent>', 'MCP client id or name')
  .option('--tool <tool>', 'tool name')
  .option('--since <time>', 'ISO time or a duration like 15m, 2h, 7d')
  .addOption(
    new Option('--outcome <outcome>', 'ok, error, denied, or unknown (calls whose outcome was lost in a crash)').choices(['ok', 'error', 'denied', 'unknown']),
  )
  .option('--limit <n>', 'at most this many records', (v) => Number.parseInt(v, 10))
  .option('--instance <name>', "records of this instance's chain only")
  .description('print matching records of every instance as JSON lines, by time')
  .action(async (dir: string | undefined, o: Record<string, unknown>) => {
    process.exitCode = await withAuditSource(dir, (src) => runAuditQuery(src, o as Parameters<typeof runAuditQuery>[1], out));
  });
audit
  .command('export')
  .argument('[dir]', 'audit directory')
  .addOption(
    new Option('--format <format>', 'ocsf: OCSF 1.3.0 events (API Activity 6003, Account Change 3001), one JSON object a line; jsonl: the records as stored')
      .choices(['ocsf', 'jsonl'])
      .default('ocsf'),
  )
  .option('--since <time>', 'records at or after: ISO time or a duration like 15m, 24h, 7d')
  .option('--until <time>', 'records before: ISO time or a duration')
  .option('--user <user>', 'sub or email')
  .option('--tool <tool>', 'tool name')
  .option('--out <file>', 'write to this file (mode 0600) instead of stdout')
  .description('export records for a SIEM; a torn or tampered log still exports what is readable, with warnings on stderr (exit 1 if the chain is broken)')
  .action(async (dir: string | undefined, o: Record<string, string | undefined>) => {
    process.exitCode = await withAuditSource(dir, (src) => runAuditExport(src, o, out));
  });

registerAdminCommand(
  program,
  { ...out, env: process.env, stdin: () => new Response(process.stdin as unknown as ReadableStream).text() },
  (code) => (process.exitCode = code),
);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // Known failures print their message (which names the field and the fix) without a stack.
  out.stderr(`xaa-gateway: ${isGatewayError(e) ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = isGatewayError(e, 'config_invalid') || isGatewayError(e, 'config_secret') ? 2 : 1;
}
