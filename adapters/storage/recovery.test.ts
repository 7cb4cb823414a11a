// Recovery from what real files on disk hold: torn and corrupt tails are cut, damage in synced data
// is a hard error naming file and offset, truncations, rotation, compaction and snapshots all read
// back as the MemoryStorage model says they should.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile, unlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryStorage } from '../../core/raft/index.ts';
import { encodeSnapshotFile } from './codec.ts';
import { snapshotName } from './files.ts';
import { openStorage, toMemoryStorage, StorageError, type Recovered, type StorageOptions } from './index.ts';
import { lastNonZeroByte, scanSegment } from './scan.ts';
import { conf, hardState, makeEntries, snapshotAt, viewOf, withTempDir } from './testing.ts';

const small: Partial<StorageOptions> = { segmentSizeBytes: 1024 };

async function reopen(dir: string, options: Partial<StorageOptions> = small): Promise<Recovered> {
  const { storage, recovered } = await openStorage(dir, options);
  await storage.close();
  return recovered;
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.startsWith('wal-')).sort();
}

/** Appends entries one Ready at a time (each its own batch), mirroring them into a model. */
async function appendEach(dir: string, model: MemoryStorage, from: number, to: number, term: number): Promise<void> {
  const { storage } = await openStorage(dir, small);
  for (let index = from; index <= to; index++) {
    const entries = makeEntries(index, index, term);
    await storage.append({ entries, hardState: hardState(term, index - 1), snapshot: null });
    model.append(entries);
    model.setHardState(hardState(term, index - 1));
  }
  await storage.close();
}

test('a restart recovers the snapshot, the entries after it and the hard state, as the model holds them', () =>
  withTempDir(async (dir) => {
    const model = new MemoryStorage();
    const { storage } = await openStorage(dir, small);
    await storage.bootstrap(conf('n1', 'n2', 'n3'));
    model.bootstrap(conf('n1', 'n2', 'n3'));
    await storage.close();
    await appendEach(dir, model, 1, 40, 1);
    const snap = model.createSnapshot(25, conf('n1', 'n2', 'n3'), 'state@25');
    model.compact(25);
    const second = await openStorage(dir, small);
    await second.storage.saveSnapshot(snap);
    await second.storage.close();
    await appendEach(dir, model, 41, 45, 2);
    const recovered = await reopen(dir);
    assert.deepEqual(viewOf(toMemoryStorage(recovered)), viewOf(model));
    assert.deepEqual(recovered.repairs, []);
    assert.deepEqual(recovered.conf, conf('n1', 'n2', 'n3'));
  }));

test('a torn tail (the last record cut short) is cut off at the last whole record, and writing resumes', () =>
  withTempDir(async (dir) => {
    const model = new MemoryStorage();
    await appendEach(dir, model, 1, 5, 1);
    const [segment] = await segmentFiles(dir);
    const path = join(dir, segment!);
    const bytes = await readFile(path);
    const records = scanSegment(bytes).records;
    const lastStart = records[records.length - 1]!.offset;
    await writeFile(path, bytes.subarray(0, lastStart + 7));
    const recovered = await reopen(dir);
    assert.match(recovered.repairs.join('\n'), new RegExp(`cut the torn tail of .*${segment} at offset ${lastStart}`));
    assert.deepEqual(recovered.entries, makeEntries(1, 4, 1));
    assert.equal((await stat(path)).size, lastStart, 'the cut is made on disk');
    const again = new MemoryStorage();
    again.append(makeEntries(1, 4, 1));
    again.setHardState(hardState(1, 3));
    await appendEach(dir, again, 5, 6, 1);
    const after = await reopen(dir);
    assert.deepEqual(after.repairs, []);
    assert.deepEqual(viewOf(toMemoryStorage(after)), viewOf(again));
  }));

test('a corrupt last record (a flipped bit in the final batch) is cut like a torn write', () =>
  withTempDir(async (dir) => {
    await appendEach(dir, new MemoryStorage(), 1, 5, 1);
    const path = join(dir, (await segmentFiles(dir))[0]!);
    const bytes = await readFile(path);
    const last = scanSegment(bytes).records.at(-1)!;
    bytes[last.offset + 20]! ^= 0x01;
    await writeFile(path, bytes);
    const recovered = await reopen(dir);
    assert.deepEqual(recovered.entries, makeEntries(1, 4, 1));
    assert.match(recovered.repairs[0]!, /checksum mismatch/);
  }));

test('a corrupt record followed by a later batch is a hard error naming the file and offset', () =>
  withTempDir(async (dir) => {
    await appendEach(dir, new MemoryStorage(), 1, 5, 1);
    const path = join(dir, (await segmentFiles(dir))[0]!);
    const bytes = await readFile(path);
    const third = scanSegment(bytes).records[3]!;
    bytes[third.offset + 18]! ^= 0x40;
    await writeFile(path, bytes);
    await assert.rejects(openStorage(dir, small), (error: unknown) => {
      assert.ok(error instanceof StorageError);
      assert.equal(error.code, 'corrupt');
      assert.ok(error.message.includes(`${path} at offset ${third.offset}`), error.message);
      return true;
    });
    assert.deepEqual(await readFile(path), bytes, 'nothing was cut');
  }));

test('damage in a segment that is not the last is a hard error even at its end', () =>
  withTempDir(async (dir) => {
    await appendEach(dir, new MemoryStorage(), 1, 30, 1);
    const segments = await segmentFiles(dir);
    assert.ok(segments.length >= 3, `expected rotation, got ${segments.length} segments`);
    const path = join(dir, segments[0]!);
    const bytes = await readFile(path);
    // The last record's last byte (zeros allocated ahead may follow it).
    const last = lastNonZeroByte(bytes, 0);
    bytes[last] = bytes[last]! ^ 0xff;
    await writeFile(path, bytes);
    await assert.rejects(openStorage(dir, small), /a later segment exists/);
  }));

test('a missing segment in the middle is a hard error', () =>
  withTempDir(async (dir) => {
    await appendEach(dir, new MemoryStorage(), 1, 30, 1);
    const segments = await segmentFiles(dir);
    await unlink(join(dir, segments[1]!));
    await assert.rejects(openStorage(dir, small), /segment 2 before it is missing/);
  }));

test('entries rewritten at a lower index replace the old suffix, also across segments', () =>
  withTempDir(async (dir) => {
    const model = new MemoryStorage();
    await appendEach(dir, model, 1, 30, 1);
    await appendEach(dir, model, 12, 14, 2); // truncates 12..30, written in a later segment
    await appendEach(dir, model, 15, 16, 3);
    const recovered = await reopen(dir);
    assert.deepEqual(viewOf(toMemoryStorage(recovered)), viewOf(model));
    assert.equal(recovered.entries.length, 16);
    assert.equal(recovered.entries[13]!.term, 2);
  }));

test('segments rotate at the configured size and each new one is created whole', () =>
  withTempDir(async (dir) => {
    await appendEach(dir, new MemoryStorage(), 1, 60, 1);
    const segments = await segmentFiles(dir);
    assert.ok(segments.length >= 5);
    for (const name of segments.slice(0, -1)) assert.ok((await stat(join(dir, name))).size <= 1024, `${name} exceeds the segment size`);
    const { storage } = await openStorage(dir, small);
    assert.equal(storage.status().segmentCount, segments.length);
    assert.equal(storage.status().activeSegment, segments.at(-1));
    await storage.close();
  }));

test('a snapshot removes the oldest segments it covers, older snapshots, and nothing the log still needs', () =>
  withTempDir(async (dir) => {
    const model = new MemoryStorage();
    await appendEach(dir, model, 1, 60, 1);
    const before = await segmentFiles(dir);
    const { storage } = await openStorage(dir, small);
    await storage.saveSnapshot(model.createSnapshot(20, conf('n1'), 'state@20'));
    model.compact(20);
    await storage.saveSnapshot(model.createSnapshot(30, conf('n1'), 'state@30'));
    model.compact(30);
    const metrics = storage.metrics();
    await storage.close();
    const after = await segmentFiles(dir);
    assert.ok(after.length < before.length, 'some segments were removed');
    assert.equal(metrics.segmentsRemoved, before.length - after.length);
    assert.deepEqual(after, before.slice(before.length - after.length), 'only a prefix went');
    assert.deepEqual((await readdir(dir)).filter((name) => name.startsWith('snap-')), [snapshotName(30, 1)]);
    assert.deepEqual(viewOf(toMemoryStorage(await reopen(dir))), viewOf(model));
  }));

test('compaction removes only a prefix: a snapshot mark in a covered segment still cuts an older, uncovered one', () =>
  withTempDir(async (dir) => {
    const model = new MemoryStorage();
    await appendEach(dir, model, 1, 20, 1); // the segment holding 20 is not covered by a snapshot at 12
    const installed = snapshotAt(10, 1);
    const { storage } = await openStorage(dir, small);
    // Big enough to start a segment of its own, which then covers only up to 12.
    const entries = makeEntries(11, 12, 1, 'n'.repeat(500));
    await storage.append({ entries, hardState: hardState(1, 10), snapshot: installed });
    model.applySnapshot(installed);
    model.append(entries);
    model.setHardState(hardState(1, 10));
    const segmentOfInstall = storage.status().activeSegment;
    await storage.append({ entries: [], hardState: hardState(2, 10), snapshot: null }); // rotates past it
    model.setHardState(hardState(2, 10));
    assert.notEqual(storage.status().activeSegment, segmentOfInstall);
    await storage.saveSnapshot(model.createSnapshot(12, conf('n1'), 'state@12'));
    model.compact(12);
    await storage.close();
    assert.ok((await segmentFiles(dir)).includes(segmentOfInstall), 'the covered segment after an uncovered one stays');
    const recovered = await reopen(dir);
    assert.deepEqual(recovered.entries, [], 'the old entries 13..20 must not come back');
    assert.deepEqual(viewOf(toMemoryStorage(recovered)), viewOf(model));
  }));

test('the hard state survives the removal of the segment that recorded it (segment headers carry it)', () =>
  withTempDir(async (dir) => {
    const model = new MemoryStorage();
    await appendEach(dir, model, 1, 40, 1);
    const { storage } = await openStorage(dir, small);
    await storage.append({ entries: [], hardState: hardState(9, 39, 'n3'), snapshot: null });
    await storage.append({ entries: makeEntries(41, 70, 9), hardState: null, snapshot: null });
    await storage.append({ entries: makeEntries(71, 100, 9), hardState: null, snapshot: null });
    await storage.saveSnapshot({ meta: { index: 100, term: 9, conf: conf('n1') }, data: 'state@100' });
    const segments = storage.status().segmentCount;
    await storage.close();
    assert.equal(segments, 1, 'every older segment was removed');
    const recovered = await reopen(dir);
    assert.deepEqual(recovered.hardState, hardState(9, 39, 'n3'));
    assert.deepEqual(recovered.entries, []);
  }));

test('a snapshot file saved without its WAL mark keeps the log only if the log matches it at its index', () =>
  withTempDir(async (dir) => {
    const { storage } = await openStorage(dir, small);
    await storage.append({ entries: makeEntries(1, 20, 1), hardState: hardState(1, 5), snapshot: null });
    await storage.close();
    await writeFile(join(dir, snapshotName(15, 1)), encodeSnapshotFile(snapshotAt(15, 1)));
    const matching = await reopen(dir);
    assert.deepEqual(matching.entries, makeEntries(16, 20, 1));
    await unlink(join(dir, snapshotName(15, 1)));
    await writeFile(join(dir, snapshotName(15, 3)), encodeSnapshotFile(snapshotAt(15, 3)));
    const conflicting = await reopen(dir);
    assert.deepEqual(conflicting.entries, []);
    assert.equal(conflicting.snapshot?.meta.term, 3);
    assert.match(conflicting.repairs.join('\n'), /dropped 5 entries after the snapshot at 15/);
  }));

test('a damaged snapshot file is a hard error naming it; leftover temporary files are removed', () =>
  withTempDir(async (dir) => {
    const model = new MemoryStorage();
    await appendEach(dir, model, 1, 5, 1);
    const { storage } = await openStorage(dir, small);
    await storage.saveSnapshot(model.createSnapshot(4, conf('n1'), 'state@4'));
    await storage.close();
    await writeFile(join(dir, 'wal-0000000000000009.log.tmp'), 'half a segment');
    const recovered = await reopen(dir);
    assert.match(recovered.repairs.join('\n'), /removed leftover temporary file/);
    assert.ok(!(await readdir(dir)).some((name) => name.endsWith('.tmp')));
    const path = join(dir, snapshotName(4, 1));
    const bytes = await readFile(path);
    bytes[bytes.length - 2]! ^= 0xff;
    await writeFile(path, bytes);
    await assert.rejects(openStorage(dir, small), (error: unknown) => error instanceof StorageError && error.code === 'corrupt' && error.message.startsWith(path));
  }));

test('bootstrap records the initial membership, and only on an empty directory', () =>
  withTempDir(async (dir) => {
    const { storage } = await openStorage(dir);
    await storage.bootstrap(conf('a', 'b', 'c'));
    await assert.rejects(storage.bootstrap(conf('a')), /empty data directory/);
    await storage.close();
    const recovered = await reopen(dir);
    assert.deepEqual(recovered.conf, conf('a', 'b', 'c'));
    const rebuilt = toMemoryStorage(recovered);
    assert.deepEqual(rebuilt.initialState().conf, conf('a', 'b', 'c'));
    assert.equal(rebuilt.lastIndex(), 0);
  }));

test('appends that break the log are refused with code invalid and change nothing', () =>
  withTempDir(async (dir) => {
    const { storage } = await openStorage(dir);
    await storage.append({ entries: makeEntries(1, 3, 1), hardState: null, snapshot: null });
    await assert.rejects(storage.append({ entries: makeEntries(5, 6, 1), hardState: null, snapshot: null }), { code: 'invalid' });
    await assert.rejects(storage.append({ entries: [...makeEntries(4, 4, 1), ...makeEntries(6, 6, 1)], hardState: null, snapshot: null }), { code: 'invalid' });
    await assert.rejects(storage.saveSnapshot(snapshotAt(9, 1)), { code: 'invalid' });
    await assert.rejects(storage.saveSnapshot(snapshotAt(2, 5)), /says term 5, but the durable entry there has term 1/);
    await storage.close();
    await assert.rejects(storage.append({ entries: makeEntries(4, 4, 1), hardState: null, snapshot: null }), { code: 'closed' });
    assert.deepEqual((await reopen(dir)).entries, makeEntries(1, 3, 1));
  }));

test('options are validated when the storage opens', () =>
  withTempDir(async (dir) => {
    await assert.rejects(openStorage(dir, { segmentSizeBytes: 0 }), /segmentSizeBytes must be a positive integer, got 0/);
    await assert.rejects(openStorage(dir, { maxRecordBytes: 100 }), /maxRecordBytes must be at least 1024/);
  }));

test('a Ready bigger than maxRecordBytes is split into records, the hard state last', () =>
  withTempDir(async (dir) => {
    const { storage } = await openStorage(dir, { maxRecordBytes: 1024 });
    const entries = makeEntries(1, 200, 1, 'x'.repeat(40));
    await storage.append({ entries, hardState: hardState(1, 150), snapshot: null });
    await storage.close();
    const bytes = await readFile(join(dir, (await segmentFiles(dir))[0]!));
    const records = scanSegment(bytes).records.slice(1);
    assert.ok(records.length > 5, `expected the Ready split, got ${records.length} records`);
    assert.ok(records.every((r, i) => (r.record.type === 'ready' && r.record.hardState !== null) === (i === records.length - 1)));
    const recovered = await reopen(dir, { maxRecordBytes: 1024 });
    assert.deepEqual(recovered.entries, entries);
    assert.deepEqual(recovered.hardState, hardState(1, 150));
  }));
