import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { handleOf, INLINE_DATASYNC_MAX_MS } from '../../src/audit/fs.js';

/**
 * The file sink's fdatasync: on the calling thread while the disk answers fast, in the thread pool after a
 * slow one, back on the calling thread once the pool's is fast again. Durability is the same either way:
 * the promise settles after the sync returned.
 */
const dir = await mkdtemp(join(tmpdir(), 'xaa-datasync-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('audit file handle: where fdatasync runs', () => {
  it('inline while fast, the thread pool after a slow one, inline again after a fast one there', async () => {
    const fh = await open(join(dir, 'a.jsonl'), 'a+');
    const pool = vi.spyOn(fh, 'datasync');
    // Durations the fake clock reports for successive syncs: fast, slow, (pool) fast, (inline) fast.
    const durations = [0.2, INLINE_DATASYNC_MAX_MS + 1, 0.5, 0.2];
    let t = 0;
    let reads = 0;
    const now = () => (reads++ % 2 === 0 ? t : (t += durations[(reads - 2) / 2]!));
    const h = handleOf(fh, now);
    const line = Buffer.from('{"seq":1}\n');
    const where: string[] = [];
    for (let i = 0; i < durations.length; i++) {
      const before = pool.mock.calls.length;
      await h.write(line, 0, line.length, null);
      await h.datasync();
      where.push(pool.mock.calls.length > before ? 'pool' : 'inline');
    }
    expect(where).toEqual(['inline', 'inline', 'pool', 'inline']);
    await h.close();
    expect((await readFile(join(dir, 'a.jsonl'), 'utf8')).split('\n').filter(Boolean)).toHaveLength(4);
  });

  it('an inline fdatasync that fails rejects the promise (the round fails closed), it does not throw', async () => {
    const fh = await open(join(dir, 'b.jsonl'), 'a+');
    const h = handleOf(fh);
    await fh.close(); // its descriptor is gone (fd -1): fdatasyncSync throws
    const p = h.datasync();
    expect(p).toBeInstanceOf(Promise);
    await expect(p).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
  });
});
