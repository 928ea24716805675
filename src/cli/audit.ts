import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { runAuditQuery, runAuditTail, runAuditVerify } from '../audit/cli.js';
import { ExportFileSource, readCheckpointCopies } from '../audit/export-source.js';
import { auditKeyFiles, localAuditKeys } from '../audit/key-files.js';
import { AuditSigningKey, parseAuditJwks, type AuditJwks } from '../audit/signing-key.js';
import { FileAuditSource, type AuditSource } from '../audit/source.js';
import type { VerifyOptions } from '../audit/verify.js';
import { runAuditExport } from '../audit/export.js';
import { loadConfigFile } from '../config/index.js';
import { out, type Globals } from './output.js';

/** `audit verify|keys|rotate-key|tail|query|export`. */
export function registerAuditCommands(program: Command, globals: Globals): void {
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
      const { PgAuditSource } = await import('../audit/pg-source.js');
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
      new Option('--outcome <outcome>', 'ok, error, denied, or unknown (calls whose outcome was lost in a crash)').choices([
        'ok',
        'error',
        'denied',
        'unknown',
      ]),
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
}
