import { z } from 'zod';

/** An audit instance (chain) name: it is part of file names, lock names and every audit record. */
export const INSTANCE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** The `audit` section: where the hash-chained log is written and how its chain heads are signed. */
export const AuditConfig = z.strictObject({
  dir: z.string().min(1).default('./data/audit').describe('Directory of the JSON Lines audit files (relative to the config file)'),
  instance: z
    .string()
    .regex(INSTANCE_RE, 'must be 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit')
    .optional()
    .describe(
      'Name of this serve instance in the audit log: every record carries it and each instance writes a hash chain of its own. Default: XAA_INSTANCE_ID, else the host name; give each instance of a fleet its own, stable across restarts',
    ),
  sink: z
    .enum(['file', 'postgres'])
    .optional()
    .describe(
      'Where serve writes audit records: "postgres" (the default with DATABASE_URL: one audit table for the whole fleet) or "file" (audit.dir on this host)',
    ),
  signingKeyFile: z
    .string()
    .min(1)
    .optional()
    .describe(
      'The audit signing key (Ed25519, created on first start, mode 0600) that signs checkpoints; relative to the config file. Default: audit-signing-key.json in server.dataDir (serve) or beside the credentials file (stdio). Keep it out of audit.dir and off the database',
    ),
  checkpoints: z
    .strictObject({
      intervalSeconds: z
        .number()
        .int()
        .min(1)
        .max(86_400)
        .default(60)
        .describe('How often each instance signs its chain head while records come (also at start and at shutdown)'),
      copyFile: z
        .string()
        .min(1)
        .optional()
        .describe(
          'Also append every checkpoint to this file (relative to the config file): put it on another disk or a mount a second party owns. Every checkpoint is also logged (msg "audit checkpoint")',
        ),
    })
    .default({ intervalSeconds: 60 }),
});
