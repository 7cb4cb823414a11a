// The power-loss model the WAL tests rely on: what a crash keeps and loses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryFileSystem } from './memory-fs.ts';

const always = (value: number) => () => value;

test('a crash keeps fsynced data and names, and loses unsynced ones', async () => {
  const disk = new MemoryFileSystem();
  const fs = disk.mount();
  await fs.mkdir('/d');
  const synced = await fs.create('/d/a');
  await synced.write(Buffer.from('durable'), 0);
  await synced.sync();
  await fs.syncDir('/d');
  await synced.write(Buffer.from('-volatile'), 7);
  const unsyncedName = await fs.create('/d/b');
  await unsyncedName.write(Buffer.from('data'), 0);
  await unsyncedName.sync();
  disk.crash(always(0)); // keep no unsynced name operation and no unsynced sector
  const after = disk.mount();
  assert.deepEqual(await after.readdir('/d'), ['a']);
  assert.equal(Buffer.from(await after.readFile('/d/a')).toString(), 'durable');
  await assert.rejects(fs.readdir('/d'), /after a crash/, 'the old view is dead');
});

test('a crash may keep unsynced sectors out of order, and keeps a prefix of unsynced renames whole', async () => {
  const disk = new MemoryFileSystem();
  const fs = disk.mount();
  await fs.mkdir('/d');
  const file = await fs.create('/d/f.tmp');
  await file.sync();
  await fs.syncDir('/d');
  await file.write(Buffer.alloc(1024, 1), 0); // two sectors
  await fs.rename('/d/f.tmp', '/d/f');
  let call = 0;
  // Draws in order: directory '/' (nothing pending), '/d' (keep its 1 pending rename), sector 0 (drop), sector 1 (keep).
  disk.crash(() => [0.5, 0.9, 0.1, 0.9][call++] ?? 0.9);
  const after = disk.mount();
  assert.deepEqual(await after.readdir('/d'), ['f']);
  const data = Buffer.from(await after.readFile('/d/f'));
  assert.equal(data.length, 1024);
  assert.ok(data.subarray(0, 512).every((byte) => byte === 0) && data.subarray(512).every((byte) => byte === 1));
});

test('a stop point freezes the process at the nth call', async () => {
  const disk = new MemoryFileSystem();
  const fs = disk.mount();
  await fs.mkdir('/d');
  const stopped = disk.stopAt('syncDir', 2);
  await fs.syncDir('/d');
  let second = false;
  void fs.syncDir('/d').then(() => (second = true));
  await stopped;
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(second, false);
  assert.equal(disk.isStopped, true);
});
