import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SimDisk, type DiskConfig, type SyncToken } from './disk.ts';
import { Rng } from './rng.ts';

const QUIET: DiskConfig = {
  syncLatencyMinUs: 100,
  syncLatencyMeanUs: 50,
  slowSyncRate: 0,
  slowSyncUs: 0,
  tornWriteRate: 0,
  bitFlipRate: 0,
  fullRate: 0,
  fullDurationUs: 0,
  capacityRecords: 1_000,
};

function disk(config: Partial<DiskConfig> = {}, seed = 'disk'): SimDisk<string> {
  return new SimDisk<string>(new Rng(seed), { ...QUIET, ...config });
}

function appendAll(target: SimDisk<string>, records: string[], nowUs = 0): void {
  for (const record of records) assert.equal(target.append(record, nowUs), true);
}

function sync(target: SimDisk<string>, nowUs = 0): SyncToken {
  const token = target.beginSync(nowUs);
  assert.equal(target.completeSync(token, token.doneAtUs), true);
  return token;
}

test('a crash loses exactly the writes not yet synced', () => {
  const target = disk();
  appendAll(target, ['a', 'b']);
  const token = sync(target);
  appendAll(target, ['c', 'd', 'e'], token.doneAtUs);
  target.crash();
  assert.deepEqual(target.load(), { records: ['a', 'b'], discarded: 0 });
  assert.equal(target.fired.lostWrites, 3);
});

test('writes are volatile until the sync completes, not when it begins', () => {
  const target = disk();
  appendAll(target, ['a']);
  target.beginSync(0);
  assert.equal(target.durableCount, 0);
  target.crash();
  assert.deepEqual(target.load().records, []);
});

test('a sync covers only the records appended before it began', () => {
  const target = disk();
  appendAll(target, ['a']);
  const token = target.beginSync(0);
  appendAll(target, ['b']);
  target.completeSync(token, token.doneAtUs);
  assert.equal(target.durableCount, 1);
  target.crash();
  assert.deepEqual(target.load().records, ['a']);
});

test('synced data survives a crash even when every crash tears or flips a bit', () => {
  for (let seed = 0; seed < 50; seed++) {
    const target = disk({ tornWriteRate: 0.5, bitFlipRate: 1 }, `s${seed}`);
    appendAll(target, ['a', 'b', 'c']);
    const token = sync(target);
    appendAll(target, ['d', 'e'], token.doneAtUs);
    target.crash();
    assert.deepEqual(target.load().records, ['a', 'b', 'c']);
  }
});

test('a torn write is detected on load and truncated with everything after it', () => {
  const target = disk({ tornWriteRate: 1 });
  appendAll(target, ['a']);
  sync(target);
  appendAll(target, ['b', 'c', 'd', 'e'], 1_000);
  target.crash();
  assert.equal(target.fired.tornWrite, 1);
  assert.equal(target.fired.bitFlip, 0);
  const sizeOnPlatter = target.size;
  assert.ok(sizeOnPlatter >= 2, 'the torn record is on the platter');
  const loaded = target.load();
  assert.deepEqual(loaded, { records: ['a'], discarded: sizeOnPlatter - 1 });
  assert.equal(target.size, 1, 'the corrupt tail is truncated from the file');
  assert.deepEqual(target.load(), { records: ['a'], discarded: 0 });
});

test('a bit flip in an unsynced write is caught by the checksum on load', () => {
  const target = disk({ bitFlipRate: 1 });
  appendAll(target, ['a', 'b']);
  target.crash();
  assert.equal(target.fired.bitFlip, 1);
  const loaded = target.load();
  assert.deepEqual(loaded.records, []);
  assert.ok(loaded.discarded >= 1);
});

test('a crash with nothing unsynced loses nothing and fires no fault', () => {
  const target = disk({ tornWriteRate: 1, bitFlipRate: 1 });
  appendAll(target, ['a']);
  sync(target);
  target.crash();
  assert.deepEqual(target.load(), { records: ['a'], discarded: 0 });
  assert.deepEqual(target.fired, { tornWrite: 0, bitFlip: 0, lostWrites: 0, full: 0, slowSync: 0 });
});

test('a sync begun before a crash never completes after it', () => {
  const target = disk();
  appendAll(target, ['a', 'b']);
  const stale = target.beginSync(0);
  target.crash();
  assert.deepEqual(target.load().records, []);
  appendAll(target, ['x', 'y', 'z'], 10);
  assert.equal(target.completeSync(stale, stale.doneAtUs + 10), false);
  assert.equal(target.durableCount, 0, 'the stale sync made none of the new records durable');
  target.crash();
  assert.deepEqual(target.load().records, []);
});

test('syncs may complete out of order; the earlier one then changes nothing', () => {
  const target = disk();
  appendAll(target, ['a']);
  const first = target.beginSync(0);
  appendAll(target, ['b']);
  const second = target.beginSync(0);
  const doneUs = Math.max(first.doneAtUs, second.doneAtUs);
  assert.equal(target.completeSync(second, doneUs), true);
  assert.equal(target.durableCount, 2);
  assert.equal(target.completeSync(first, doneUs), true);
  assert.equal(target.durableCount, 2);
});

test('completing a sync before its time is an assertion error', () => {
  const target = disk();
  appendAll(target, ['a']);
  const token = target.beginSync(0);
  assert.throws(() => target.completeSync(token, token.doneAtUs - 1), /before the sync is done/);
});

test('a slow sync takes slowSyncUs longer and is counted', () => {
  const fast = disk({ syncLatencyMeanUs: 0 });
  const slow = disk({ syncLatencyMeanUs: 0, slowSyncRate: 1, slowSyncUs: 50_000 });
  assert.equal(fast.beginSync(1_000).doneAtUs, 1_100);
  assert.equal(slow.beginSync(1_000).doneAtUs, 51_100);
  assert.equal(slow.fired.slowSync, 1);
  assert.equal(fast.fired.slowSync, 0);
});

test('a full disk rejects appends for fullDurationUs, then recovers by itself', () => {
  const target = disk({ fullRate: 1, fullDurationUs: 1_000 });
  assert.equal(target.append('a', 0), false);
  target.setConfig({ ...QUIET, fullDurationUs: 1_000 });
  assert.equal(target.append('b', 999), false);
  assert.equal(target.append('c', 1_000), true);
  assert.equal(target.size, 1);
  assert.equal(target.fired.full, 2);
});

test('the disk is full at capacityRecords', () => {
  const target = disk({ capacityRecords: 2 });
  appendAll(target, ['a', 'b']);
  assert.equal(target.append('c', 0), false);
  assert.equal(target.fired.full, 1);
  assert.throws(() => target.rewrite(['a', 'b', 'c'], 0), /capacityRecords=2/);
});

test('a rewrite replaces the file durably and in one step', () => {
  const target = disk();
  appendAll(target, ['a', 'b', 'c']);
  const pending = target.beginSync(0);
  target.rewrite(['snapshot', 'c'], 10);
  assert.equal(target.durableCount, 2);
  appendAll(target, ['d'], 10);
  // The sync begun before the rewrite covered records the rewrite replaced: completing it is harmless.
  assert.equal(target.completeSync(pending, pending.doneAtUs + 10), true);
  assert.equal(target.durableCount, 2);
  target.crash();
  assert.deepEqual(target.load().records, ['snapshot', 'c']);
});

test('a crashed disk refuses writes until it is loaded, and time may not go back', () => {
  const target = disk();
  target.crash();
  assert.throws(() => target.append('a', 0), /load\(\) it/);
  assert.throws(() => target.beginSync(0), /load\(\) it/);
  target.load();
  appendAll(target, ['a'], 100);
  assert.throws(() => target.append('b', 99), /time went back/);
});

test('the same seed gives the same faults', () => {
  const run = (seed: string) => {
    const target = disk({ tornWriteRate: 0.5, bitFlipRate: 0.5, fullRate: 0.1, fullDurationUs: 5, slowSyncRate: 0.3, slowSyncUs: 1_000 }, seed);
    const trace: unknown[] = [];
    for (let i = 0; i < 200; i++) {
      trace.push(target.append(`r${i}`, i * 10));
      if (i % 7 === 0) trace.push(target.beginSync(i * 10).doneAtUs);
      if (i % 31 === 0) { target.crash(); trace.push(target.load()); }
    }
    return trace;
  };
  assert.deepEqual(run('x'), run('x'));
});

type Operation =
  | { type: 'append'; count: number }
  | { type: 'beginSync' }
  | { type: 'completeSync'; pick: number }
  | { type: 'advance'; us: number }
  | { type: 'crash' }
  | { type: 'rewrite'; keep: number };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ type: fc.constant('append' as const), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ type: fc.constant('beginSync' as const) }),
  fc.record({ type: fc.constant('completeSync' as const), pick: fc.nat() }),
  fc.record({ type: fc.constant('advance' as const), us: fc.integer({ min: 0, max: 500 }) }),
  fc.record({ type: fc.constant('crash' as const) }),
  fc.record({ type: fc.constant('rewrite' as const), keep: fc.nat() }),
);

interface Pending { token: SyncToken; covered: number; generation: number; life: number }

test('load returns exactly the records whose sync completed, for any sequence of operations', () => {
  const faults = fc.record({
    tornWriteRate: fc.double({ min: 0, max: 1, noNaN: true }),
    bitFlipRate: fc.double({ min: 0, max: 1, noNaN: true }),
    fullRate: fc.double({ min: 0, max: 0.3, noNaN: true }),
    fullDurationUs: fc.integer({ min: 0, max: 300 }),
    slowSyncRate: fc.double({ min: 0, max: 1, noNaN: true }),
    capacityRecords: fc.integer({ min: 1, max: 40 }),
  });
  fc.assert(
    fc.property(fc.string(), faults, fc.array(operation, { maxLength: 120 }), (seed, fault, operations) => {
      const target = new SimDisk<number>(new Rng(seed), { ...QUIET, slowSyncUs: 700, ...fault });
      let believed: number[] = []; // what this process life thinks is in its file
      let durable = 0; // prefix of `believed` known durable
      let generation = 0; // bumped by rewrite: earlier syncs covered replaced records
      let life = 0; // bumped by crash
      let nowUs = 0;
      let next = 0;
      const pending: Pending[] = [];
      const restart = () => {
        target.crash();
        life++;
        const loaded = target.load();
        // Stronger than "a prefix that includes every synced record": nothing unsynced survives.
        assert.deepEqual(loaded.records, believed.slice(0, durable));
        believed = loaded.records;
      };
      for (const op of operations) {
        switch (op.type) {
          case 'append':
            for (let i = 0; i < op.count; i++) if (target.append(next, nowUs)) believed.push(next++);
            break;
          case 'beginSync':
            pending.push({ token: target.beginSync(nowUs), covered: believed.length, generation, life });
            break;
          case 'completeSync': {
            if (pending.length === 0) break;
            const [sync] = pending.splice(op.pick % pending.length, 1) as [Pending];
            nowUs = Math.max(nowUs, sync.token.doneAtUs);
            assert.equal(target.completeSync(sync.token, nowUs), sync.life === life);
            if (sync.life === life && sync.generation === generation) durable = Math.max(durable, sync.covered);
            break;
          }
          case 'advance':
            nowUs += op.us;
            break;
          case 'crash':
            restart();
            break;
          case 'rewrite':
            believed = believed.slice(0, Math.min(op.keep % 8, believed.length)).concat([next++]);
            if (believed.length > fault.capacityRecords) believed = believed.slice(-fault.capacityRecords);
            target.rewrite(believed, nowUs);
            durable = believed.length;
            generation++;
            break;
        }
        assert.equal(target.durableCount, durable);
      }
      restart();
    }),
    { numRuns: 300 },
  );
});
