// Zeros allocated ahead in the active segment (segment.ts, preallocateBytes): batches overwrite
// them, recovery reads an all-zero rest as a clean end and continues writing where the records end,
// and damage before the zeros is still told apart (torn tail, or corruption before a later batch).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openStorage, type StorageOptions } from './index.ts';
import { lastNonZeroByte, scanSegment } from './scan.ts';
import { hardState, makeEntries, withTempDir } from './testing.ts';

const ahead: Partial<StorageOptions> = { segmentSizeBytes: 64 * 1024, preallocateBytes: 8 * 1024 };

async function writeEach(dir: string, from: number, to: number, options: Partial<StorageOptions> = ahead): Promise<{ path: string; end: number }> {
  const { storage } = await openStorage(dir, options);
  for (let index = from; index <= to; index++) {
    await storage.append({ entries: makeEntries(index, index, 1), hardState: hardState(1, index - 1), snapshot: null });
  }
  const status = storage.status();
  await storage.close();
  return { path: join(dir, status.activeSegment), end: status.activeSegmentBytes };
}

test('lastNonZeroByte finds the last non-zero byte after an offset, across chunk borders', () => {
  const bytes = Buffer.alloc(200_000);
  assert.equal(lastNonZeroByte(bytes, 10), 9, 'all zero: from - 1');
  bytes[70_000] = 1;
  assert.equal(lastNonZeroByte(bytes, 0), 70_000);
  assert.equal(lastNonZeroByte(bytes, 70_001), 70_000);
  bytes[199_999] = 7;
  assert.equal(lastNonZeroByte(bytes, 0), 199_999);
});

test('batches extend the segment with zeros ahead and then overwrite them; a restart continues where the records end', () =>
  withTempDir(async (dir) => {
    const first = await writeEach(dir, 1, 5);
    const size = (await stat(first.path)).size;
    assert.ok(size >= first.end + 8 * 1024 - 1024, `the file (${size} bytes) reaches well past the records (${first.end})`);
    const bytes = await readFile(first.path);
    assert.equal(lastNonZeroByte(bytes, first.end), first.end - 1, 'only zeros follow the records');
    const second = await writeEach(dir, 6, 9);
    assert.equal(second.path, first.path);
    assert.equal((await stat(second.path)).size, size, 'the later batches overwrote allocated zeros: the file did not grow');
    const { storage, recovered } = await openStorage(dir, ahead);
    await storage.close();
    assert.deepEqual(recovered.entries, makeEntries(1, 9, 1));
    assert.deepEqual(recovered.repairs, [], 'zeros are not damage');
  }));

test('without zeros ahead (preallocateBytes 0) the file ends where the records end', () =>
  withTempDir(async (dir) => {
    const { path, end } = await writeEach(dir, 1, 3, { ...ahead, preallocateBytes: 0 });
    assert.equal((await stat(path)).size, end);
  }));

test('a torn write over the zeros is cut at the last whole record', () =>
  withTempDir(async (dir) => {
    const { path, end } = await writeEach(dir, 1, 4);
    const bytes = await readFile(path);
    bytes.fill(0xab, end, end + 37); // half a record that never finished, zeros after it
    await writeFile(path, bytes);
    const { storage, recovered } = await openStorage(dir, ahead);
    assert.equal(storage.status().activeSegmentBytes, end);
    await storage.append({ entries: makeEntries(5, 5, 1), hardState: null, snapshot: null });
    await storage.close();
    assert.deepEqual(recovered.entries, makeEntries(1, 4, 1));
    assert.match(recovered.repairs.join(), /cut the torn tail/);
    const again = await openStorage(dir, ahead);
    await again.storage.close();
    assert.deepEqual(again.recovered.entries, makeEntries(1, 5, 1));
  }));

test('damage to a synced record before a later batch is corruption, zeros after them or not', () =>
  withTempDir(async (dir) => {
    const { path, end } = await writeEach(dir, 1, 6);
    const bytes = await readFile(path);
    const scan = scanSegment(bytes);
    assert.equal(scan.validEnd, end);
    assert.equal(scan.tail.kind, 'clean');
    const third = scan.records[3]!; // a record with whole batches after it
    bytes[third.offset + 20] = bytes[third.offset + 20]! ^ 0x01;
    assert.equal(scanSegment(bytes).tail.kind, 'corrupt');
    await writeFile(path, bytes);
    await assert.rejects(openStorage(dir, ahead), /a later batch at offset/);
  }));
