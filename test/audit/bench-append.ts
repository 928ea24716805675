// Quick latency check (not a test): p50/p99 of one awaited append, sequential, one writer, real fs.
// Usage: npx tsx test/audit/bench-append.ts [N]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAuditLog } from '../../src/audit/file-log.js';

const n = Number(process.argv[2] ?? 2000);
const dir = await mkdtemp(join(tmpdir(), 'xaa-audit-bench-'));
const log = await openAuditLog(dir, { now: () => Date.now() });
const ms: number[] = [];
for (let i = 0; i < n + 100; i++) {
  const t = process.hrtime.bigint();
  await log.append({ type: 'tool_call', phase: 'decision', traceId: `b${i}`, decision: 'allow' });
  if (i >= 100) ms.push(Number(process.hrtime.bigint() - t) / 1e6);
}
await log.close();
await rm(dir, { recursive: true, force: true });
ms.sort((a, b) => a - b);
const q = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!.toFixed(3);
console.log(`appends=${n} p50=${q(0.5)}ms p90=${q(0.9)}ms p99=${q(0.99)}ms`);
