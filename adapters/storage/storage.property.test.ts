// Random sequences of appends (with Raft truncation), hard-state changes, installed and local
// snapshots, clean reopens, power losses between operations, a full disk and fsync errors, checked
// against MemoryStorage as the model: after every reopen or crash the recovered log is exactly the
// model's. A failure prints fast-check's seed and path to replay it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryStorage, type HardState } from '../../core/raft/index.ts';
import { FaultyFileSystem, fault, MemoryFileSystem, openStorage, StorageError, toMemoryStorage, type Update, type WalStorage } from './index.ts';
import { conf, makeEntries, viewOf } from './testing.ts';
import { testRandom } from '../../core/raft/harness.ts';

type OpKind = 'append' | 'hard-state' | 'install' | 'local-snapshot' | 'reopen' | 'crash' | 'disk-full' | 'fsync-error';
interface OpSeed {
  readonly kind: OpKind;
  readonly a: number;
  readonly b: number;
  readonly c: number;
}

const opSeed: fc.Arbitrary<OpSeed> = fc.record({
  kind: fc.constantFrom<OpKind>('append', 'append', 'append', 'append', 'hard-state', 'install', 'local-snapshot', 'local-snapshot', 'reopen', 'crash', 'disk-full', 'fsync-error'),
  a: fc.nat(1000),
  b: fc.nat(1000),
  c: fc.nat(1000),
});

/** The storage under test, on a simulated disk that survives reopens and power losses. */
class Harness {
  readonly disk = new MemoryFileSystem();
  faulty!: FaultyFileSystem;
  storage!: WalStorage;
  term = 1;
  constructor(private readonly segmentSizeBytes: number, private readonly random: () => number) {}

  async open(model: MemoryStorage): Promise<void> {
    this.faulty = new FaultyFileSystem(this.disk.mount());
    const { storage, recovered } = await openStorage('/data', { fileSystem: this.faulty, segmentSizeBytes: this.segmentSizeBytes, diskFullProbeIntervalMs: 60_000 });
    this.storage = storage;
    assert.deepEqual(viewOf(toMemoryStorage(recovered)), viewOf(model));
  }

  crash(): void {
    this.disk.crash(this.random);
  }
}

/** The commit index: never above the last index; entries at or below it are never rewritten. */
const lastOf = (model: MemoryStorage): number => model.lastIndex();
const within = (seed: number, lo: number, hi: number): number => (hi < lo ? lo : lo + (seed % (hi - lo + 1)));

async function step(h: Harness, model: MemoryStorage, op: OpSeed): Promise<void> {
  const hs = model.getHardState();
  const snapshotIndex = model.snapshot().meta.index;
  const last = lastOf(model);
  switch (op.kind) {
    case 'append': {
      const first = within(op.a, Math.max(hs.commit, snapshotIndex) + 1, last + 1);
      if (op.c % 3 === 0) h.term++;
      const entries = makeEntries(first, first + (op.b % 5), h.term, 'x'.repeat(op.c % 90));
      const hardState: HardState | null = op.c % 2 === 0 ? { term: h.term, vote: null, commit: within(op.b, hs.commit, first - 1) } : null;
      await h.storage.append({ entries, hardState, snapshot: null });
      model.append(entries);
      if (hardState) model.setHardState(hardState);
      return;
    }
    case 'hard-state': {
      const hardState = { term: h.term, vote: op.a % 2 ? null : (`n${op.a % 5}` as HardState['vote']), commit: within(op.b, hs.commit, last) };
      await h.storage.append({ entries: [], hardState, snapshot: null });
      model.setHardState(hardState);
      return;
    }
    case 'install': {
      h.term++;
      const index = within(op.a, Math.max(hs.commit, snapshotIndex) + 1, last + 8);
      const snapshot = { meta: { index, term: h.term, conf: conf('n1', `n${op.b % 4}`) }, data: `installed@${index}` };
      const entries = makeEntries(index + 1, index + (op.c % 4), h.term);
      const update: Update = { entries, hardState: { term: h.term, vote: null, commit: index }, snapshot };
      await h.storage.append(update);
      model.applySnapshot(snapshot);
      model.append(entries);
      model.setHardState(update.hardState!);
      return;
    }
    case 'local-snapshot': {
      if (hs.commit <= snapshotIndex) return;
      const index = within(op.a, snapshotIndex + 1, hs.commit);
      const snapshot = model.createSnapshot(index, conf('n1'), `local@${index}`);
      model.compact(index);
      await h.storage.saveSnapshot(snapshot);
      return;
    }
    case 'reopen':
      await h.storage.close();
      await h.open(model);
      return;
    case 'crash':
      h.crash();
      await h.open(model);
      return;
    case 'disk-full':
    case 'fsync-error': {
      const first = within(op.a, Math.max(hs.commit, snapshotIndex) + 1, last + 1);
      const entries = makeEntries(first, first + (op.b % 3), h.term + 1, 'lost');
      let armed = true;
      h.faulty.rule = (operation, _path, size) => {
        if (!armed) return null;
        if (op.kind === 'disk-full' && operation === 'write') {
          armed = false;
          return { kind: 'torn-write', bytes: op.c % Math.max(1, size), code: 'ENOSPC' };
        }
        if (op.kind === 'fsync-error' && operation === 'datasync') {
          armed = false;
          return fault('EIO');
        }
        return null;
      };
      await assert.rejects(h.storage.append({ entries, hardState: null, snapshot: null }), (error: unknown) => error instanceof StorageError && error.code === (op.kind === 'disk-full' ? 'disk-full' : 'io-error'));
      h.faulty.rule = () => null;
      if (op.kind === 'disk-full') assert.equal(await h.storage.probe(), 'ok');
      else {
        await h.storage.close();
        await h.open(model);
      }
      return;
    }
  }
}

test('random appends, truncations, snapshots, reopens, power losses and disk faults always recover the model', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opSeed, { minLength: 1, maxLength: 40 }), fc.integer({ min: 300, max: 4096 }), fc.nat(), async (ops, segmentSizeBytes, seed) => {
      const model = new MemoryStorage();
      const h = new Harness(segmentSizeBytes, testRandom(seed));
      await h.open(model);
      for (const op of ops) await step(h, model, op);
      await h.storage.close();
      await h.open(model);
      await h.storage.close();
    }),
    { numRuns: 150 },
  );
});
