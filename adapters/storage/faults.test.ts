// Failures of the disk under a live storage, injected through the file-system layer: a full disk
// (during a write, an fsync, a segment creation, a snapshot), an I/O error on fsync, short writes.
// Each case checks what was acknowledged, what the storage reports, what is on disk afterwards, and
// that writing resumes (disk full) or needs a reopen (I/O error).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FaultyFileSystem, fault, MemoryFileSystem, nodeFileSystem, openStorage, StorageError, type StorageOptions, type WalStorage } from './index.ts';
import { hardState, makeEntries, snapshotAt, withTempDir } from './testing.ts';

const isCode = (code: string) => (error: unknown) => error instanceof StorageError && error.code === code;

async function openFaulty(dir: string, options: Partial<StorageOptions> = {}): Promise<{ storage: WalStorage; faulty: FaultyFileSystem }> {
  const faulty = new FaultyFileSystem(nodeFileSystem);
  const { storage } = await openStorage(dir, { fileSystem: faulty, diskFullProbeIntervalMs: 60_000, ...options });
  return { storage, faulty };
}

const activePath = (dir: string, storage: WalStorage): string => join(dir, storage.status().activeSegment);

async function recoveredEntries(dir: string) {
  const { storage, recovered } = await openStorage(dir);
  await storage.close();
  return recovered;
}

test('disk full in the middle of a write: rejected, read-only, the partial batch cut, writing resumes when space returns', () =>
  withTempDir(async (dir) => {
    const { storage, faulty } = await openFaulty(dir);
    await storage.append({ entries: makeEntries(1, 3, 1), hardState: hardState(1, 2), snapshot: null });
    const sizeBefore = storage.status().activeSegmentBytes;
    assert.ok((await stat(activePath(dir, storage))).size > sizeBefore, 'zeros were allocated after the records');
    let full = true;
    faulty.rule = (op, path, size) => (!full ? null : op === 'write' && path.includes('wal-') ? { kind: 'torn-write', bytes: Math.floor(size / 2), code: 'ENOSPC' } : op === 'create' || op === 'write' ? fault('ENOSPC') : null);
    await assert.rejects(storage.append({ entries: makeEntries(4, 8, 1), hardState: hardState(1, 3), snapshot: null }), isCode('disk-full'));
    assert.equal(storage.status().state, 'disk-full');
    assert.match(storage.status().reason ?? '', /ENOSPC/);
    assert.equal((await stat(activePath(dir, storage))).size, sizeBefore, 'the torn half batch (and the zeros after it) was cut at once');
    await assert.rejects(storage.append({ entries: makeEntries(4, 4, 1), hardState: null, snapshot: null }), isCode('disk-full'));
    assert.equal(await storage.probe(), 'disk-full', 'still full');
    full = false;
    assert.equal(await storage.probe(), 'ok');
    await storage.append({ entries: makeEntries(4, 5, 2), hardState: hardState(2, 4), snapshot: null });
    await storage.close();
    const recovered = await recoveredEntries(dir);
    assert.deepEqual(recovered.entries, [...makeEntries(1, 3, 1), ...makeEntries(4, 5, 2)]);
    assert.deepEqual(recovered.hardState, hardState(2, 4));
    assert.deepEqual(recovered.repairs, []);
  }));

test('disk full when even the cut fails: the partial record is not taken as valid, neither on resume nor on reopen', () =>
  withTempDir(async (dir) => {
    const { storage, faulty } = await openFaulty(dir);
    await storage.append({ entries: makeEntries(1, 2, 1), hardState: null, snapshot: null });
    const endBefore = storage.status().activeSegmentBytes;
    faulty.rule = (op, _path, size) => (op === 'write' ? { kind: 'torn-write', bytes: Math.min(size - 1, 40), code: 'ENOSPC' } : op === 'truncate' || op === 'create' ? fault('ENOSPC') : null);
    await assert.rejects(storage.append({ entries: makeEntries(3, 3, 1), hardState: null, snapshot: null }), isCode('disk-full'));
    const after = await readFile(activePath(dir, storage));
    assert.ok(after.subarray(endBefore, endBefore + 40).some((byte) => byte !== 0), 'the partial record is still there, over the zeros allocated ahead');
    const beforeResume = await recoveredEntries(dir);
    assert.deepEqual(beforeResume.entries, makeEntries(1, 2, 1), 'recovery cuts it');
    assert.match(beforeResume.repairs.join(), /cut the torn tail/);
    await storage.close();
  }));

test('disk full on fsync: nothing acknowledged, the unsynced batch cut back, and queued appends rejected too', () =>
  withTempDir(async (dir) => {
    const { storage, faulty } = await openFaulty(dir);
    await storage.append({ entries: makeEntries(1, 2, 1), hardState: null, snapshot: null });
    let failSyncs = 1;
    faulty.rule = (op) => (op === 'datasync' && failSyncs-- > 0 ? fault('ENOSPC') : null);
    const first = storage.append({ entries: makeEntries(3, 3, 1), hardState: null, snapshot: null });
    const queued = storage.append({ entries: makeEntries(4, 4, 1), hardState: null, snapshot: null });
    await assert.rejects(first, isCode('disk-full'));
    await assert.rejects(queued, isCode('disk-full'));
    assert.equal(await storage.probe(), 'ok');
    // The log continues from what is durable: 3 must come again before 4.
    await assert.rejects(storage.append({ entries: makeEntries(4, 4, 1), hardState: null, snapshot: null }), isCode('invalid'));
    await storage.append({ entries: makeEntries(3, 4, 2), hardState: null, snapshot: null });
    await storage.close();
    assert.deepEqual((await recoveredEntries(dir)).entries, [...makeEntries(1, 2, 1), ...makeEntries(3, 4, 2)]);
  }));

test('an I/O error on fsync is never acknowledged and leaves the storage failed until it is reopened', () =>
  withTempDir(async (dir) => {
    const { storage, faulty } = await openFaulty(dir);
    await storage.append({ entries: makeEntries(1, 2, 1), hardState: hardState(1, 1), snapshot: null });
    faulty.rule = (op) => (op === 'datasync' ? fault('EIO') : null);
    await assert.rejects(storage.append({ entries: makeEntries(3, 5, 1), hardState: hardState(1, 2), snapshot: null }), isCode('io-error'));
    assert.equal(storage.status().state, 'failed');
    faulty.rule = () => null;
    assert.equal(await storage.probe(), 'failed', 'no probe brings a failed storage back');
    await assert.rejects(storage.append({ entries: makeEntries(3, 3, 1), hardState: null, snapshot: null }), (error: unknown) => isCode('io-error')(error) && /must be reopened/.test((error as Error).message));
    await storage.close();
    const reopened = await openStorage(dir);
    assert.deepEqual(reopened.recovered.entries, makeEntries(1, 2, 1));
    assert.deepEqual(reopened.recovered.hardState, hardState(1, 1));
    await reopened.storage.append({ entries: makeEntries(3, 3, 2), hardState: null, snapshot: null });
    await reopened.storage.close();
    assert.deepEqual((await recoveredEntries(dir)).entries, [...makeEntries(1, 2, 1), ...makeEntries(3, 3, 2)]);
  }));

test('short writes are completed by further writes and read back intact', () =>
  withTempDir(async (dir) => {
    const { storage, faulty } = await openFaulty(dir);
    faulty.rule = (op, _path, size) => (op === 'write' && size > 1 ? { kind: 'short-write', bytes: Math.ceil(size / 3) } : null);
    const entries = makeEntries(1, 50, 1, 'payload-');
    await Promise.all(entries.map((entry) => storage.append({ entries: [entry], hardState: hardState(1, entry.index), snapshot: null })));
    assert.ok((faulty.injected.get('write') ?? 0) > 3);
    await storage.close();
    assert.deepEqual((await recoveredEntries(dir)).entries, entries);
  }));

test('disk full while creating a segment or saving a snapshot leaves no file behind and resumes cleanly', () =>
  withTempDir(async (dir) => {
    const { storage, faulty } = await openFaulty(dir, { segmentSizeBytes: 512 });
    for (let i = 1; i <= 4; i++) await storage.append({ entries: makeEntries(i, i, 1, 'x'.repeat(40)), hardState: null, snapshot: null });
    faulty.rule = (op, path) => (op === 'write' && path.endsWith('.tmp') ? fault('ENOSPC') : null);
    let segmentFull = false;
    for (let i = 5; i <= 20 && !segmentFull; i++) {
      await storage.append({ entries: makeEntries(i, i, 1, 'x'.repeat(40)), hardState: null, snapshot: null }).catch((error: unknown) => {
        assert.ok(isCode('disk-full')(error));
        segmentFull = true;
      });
    }
    assert.ok(segmentFull, 'rotation hit the full disk');
    assert.ok(!(await readdir(dir)).some((name) => name.endsWith('.tmp')), 'the temporary segment was removed');
    faulty.rule = () => null;
    assert.equal(await storage.probe(), 'ok');
    const last = storage.status().lastIndex;
    await storage.append({ entries: makeEntries(last + 1, last + 1, 1, 'x'.repeat(40)), hardState: null, snapshot: null });
    faulty.rule = (op, path) => (op === 'write' && path.includes('snap-') ? fault('ENOSPC') : null);
    await assert.rejects(storage.saveSnapshot(snapshotAt(3, 1)), isCode('disk-full'));
    assert.ok(!(await readdir(dir)).some((name) => name.includes('snap-')), 'no snapshot file, not even a temporary one');
    faulty.rule = () => null;
    assert.equal(await storage.probe(), 'ok');
    await storage.saveSnapshot(snapshotAt(3, 1));
    await storage.close();
    const recovered = await recoveredEntries(dir);
    assert.equal(recovered.snapshot?.meta.index, 3);
    assert.deepEqual(recovered.entries, makeEntries(4, last + 1, 1, 'x'.repeat(40)));
  }));

test('an installed snapshot whose WAL record fails is removed again, so it cannot cut the log written afterwards', () =>
  withTempDir(async (dir) => {
    const { storage, faulty } = await openFaulty(dir);
    await storage.append({ entries: makeEntries(1, 5, 1), hardState: hardState(1, 2), snapshot: null });
    faulty.rule = (op, path) => (op === 'write' && path.includes('wal-') ? fault('ENOSPC') : null);
    await assert.rejects(storage.append({ entries: [], hardState: hardState(3, 8), snapshot: snapshotAt(8, 3) }), isCode('disk-full'));
    assert.ok(!(await readdir(dir)).some((name) => name.startsWith('snap-')));
    faulty.rule = () => null;
    assert.equal(await storage.probe(), 'ok');
    await storage.append({ entries: makeEntries(6, 9, 2), hardState: hardState(2, 4), snapshot: null });
    await storage.close();
    assert.deepEqual((await recoveredEntries(dir)).entries, [...makeEntries(1, 5, 1), ...makeEntries(6, 9, 2)]);
  }));

test('the disk-full probe runs on its own timer and reopens writing', () =>
  withTempDir(async (dir) => {
    const { storage, faulty } = await openFaulty(dir, { diskFullProbeIntervalMs: 10, diskFullProbeBytes: 4096 });
    faulty.rule = (op) => (op === 'write' || op === 'create' ? fault('ENOSPC') : null);
    await assert.rejects(storage.append({ entries: makeEntries(1, 1, 1), hardState: null, snapshot: null }), isCode('disk-full'));
    for (let i = 0; i < 200 && (faulty.injected.get('create') ?? 0) < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok((faulty.injected.get('create') ?? 0) >= 2, 'the probe kept trying');
    assert.equal(storage.status().state, 'disk-full');
    faulty.rule = () => null;
    for (let i = 0; i < 200 && storage.status().state !== 'ok'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(storage.status().state, 'ok');
    await storage.append({ entries: makeEntries(1, 1, 1), hardState: null, snapshot: null });
    await storage.close();
  }));

test('group commit: concurrent appends share fsyncs, and latency is measured', () =>
  withTempDir(async (dir) => {
    const { storage } = await openStorage(dir);
    const appends = [];
    for (let i = 1; i <= 64; i++) appends.push(storage.append({ entries: makeEntries(i, i, 1), hardState: hardState(1, i - 1), snapshot: null }));
    await Promise.all(appends);
    const metrics = storage.metrics();
    assert.equal(metrics.appendCount, 64);
    assert.ok(metrics.fsyncCount <= 2, `64 concurrent appends took ${metrics.fsyncCount} fsyncs`);
    assert.ok(metrics.fsyncTotalMs > 0);
    assert.equal(metrics.fsyncBucketCounts.at(-1), metrics.fsyncCount);
    await storage.close();
  }));

test('an append is not acknowledged before the fsync of its batch completes', async () => {
  const disk = new MemoryFileSystem();
  const { storage } = await openStorage('/data', { fileSystem: disk.mount() });
  const stopped = disk.stopAt('datasync', 1);
  let acknowledged = false;
  void storage.append({ entries: makeEntries(1, 1, 1), hardState: null, snapshot: null }).then(() => (acknowledged = true));
  await stopped;
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(acknowledged, false);
  assert.equal(storage.status().queuedAppends, 0, 'the batch is being written');
});

test('appends beyond maxQueuedBytes behind a slow fsync are refused as overloaded', async () => {
  const disk = new MemoryFileSystem();
  const { storage } = await openStorage('/data', { fileSystem: disk.mount(), maxQueuedBytes: 400 });
  const stopped = disk.stopAt('datasync', 1);
  void storage.append({ entries: makeEntries(1, 1, 1), hardState: null, snapshot: null });
  await stopped;
  const outcomes: string[] = [];
  for (let i = 2; i <= 9; i++) {
    storage.append({ entries: makeEntries(i, i, 1, 'y'.repeat(60)), hardState: null, snapshot: null }).catch((error: StorageError) => outcomes.push(`${i}:${error.code}`));
  }
  await new Promise((resolve) => setImmediate(resolve));
  // The first refused append is overloaded; the ones after it would leave a gap (invalid).
  assert.ok(outcomes.length > 0 && outcomes[0]!.endsWith(':overloaded'), outcomes.join());
  assert.ok(outcomes.slice(1).every((outcome) => outcome.endsWith(':invalid')), outcomes.join());
  assert.equal(storage.status().queuedAppends, 8 - outcomes.length, 'the others wait for the disk');
});
