/**
 * The active segment's writer: each group commit lands at its offset and is
 * durable when the write resolves, through O_DSYNC where the platform has it
 * and through fdatasync elsewhere.
 */
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SegmentWriter } from '../../src/store/segment-writer.js';
import { tempStoreDir, type TempStoreDir } from './store-fixtures.js';

/** The `flags:` of this process's open descriptor on `path`, from /proc (Linux). */
async function openFlags(path: string): Promise<number> {
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target !== path) continue;
    const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8');
    const flags = /^flags:\s+([0-7]+)$/m.exec(info)?.[1];
    if (flags !== undefined) return parseInt(flags, 8);
  }
  throw new Error(`${path} is not open`);
}

describe('segment writer', () => {
  let tmp: TempStoreDir;
  before(async () => {
    tmp = await tempStoreDir();
  });
  after(() => tmp.remove());

  for (const dsync of [true, false]) {
    it(`writes each commit at its offset, after what is there (${dsync ? 'O_DSYNC' : 'write + fdatasync'})`, async () => {
      const path = join(tmp.root, `segment-${dsync}.log`);
      await writeFile(path, 'head:');
      const writer = await SegmentWriter.open(path, { dsync });
      try {
        assert.equal(writer.dsync, dsync && process.platform !== 'win32');
        await writer.writeDurably(Buffer.from('first,'), 5);
        await writer.writeDurably(Buffer.from('second'), 11);
        assert.equal(await readFile(path, 'utf8'), 'head:first,second');
      } finally {
        await writer.close();
      }
    });
  }

  it('opens the segment with O_DSYNC on Linux, so a write is durable when it returns', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
    const path = join(tmp.root, 'segment-flags.log');
    await writeFile(path, '');
    const writer = await SegmentWriter.open(path);
    try {
      assert.ok(writer.dsync);
      const flags = await openFlags(path);
      assert.equal(flags & constants.O_DSYNC, constants.O_DSYNC, `flags ${flags.toString(8)} lack O_DSYNC`);
      assert.equal(flags & 0o3, constants.O_RDWR, 'opened for reading and writing');
    } finally {
      await writer.close();
    }
  });
});
