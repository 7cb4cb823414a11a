// Power loss at every point of a workload: the simulated disk (memory-fs.ts) freezes the process at
// its nth file-system call, for every n, then drops whatever was not fsynced (keeping random sectors
// of it, and a random prefix of unsynced directory changes). The recovered log must be exactly the
// model's state after some prefix of the operations that includes every acknowledged one, or, for a
// snapshot received from a leader, the state where only its file had become durable.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { MemoryStorage, type Snapshot } from '../../core/raft/index.ts';
import { MemoryFileSystem, openStorage, toMemoryStorage, type WalStorage } from './index.ts';
import { conf, hardState, makeEntries, snapshotAt, viewOf, type LogView } from './testing.ts';
import { testRandom } from '../../core/raft/harness.ts';

interface Op {
  readonly run: (storage: WalStorage) => Promise<void>;
  readonly apply: (model: MemoryStorage) => void;
  readonly installs?: Snapshot;
}

const members = conf('n1', 'n2', 'n3');

/** Entries big enough that a batch spans several 512-byte sectors (so power loss can tear it). */
const payload = 'p'.repeat(150);

function append(first: number, last: number, term: number, commit: number): Op {
  const entries = makeEntries(first, last, term, payload);
  return {
    run: (storage) => storage.append({ entries, hardState: hardState(term, commit, 'n1'), snapshot: null }),
    apply: (model) => {
      model.append(entries);
      model.setHardState(hardState(term, commit, 'n1'));
    },
  };
}

function localSnapshot(index: number, term: number): Op {
  const snapshot: Snapshot = { meta: { index, term, conf: members }, data: `state@${index}` };
  return {
    run: (storage) => storage.saveSnapshot(snapshot),
    apply: (model) => {
      model.createSnapshot(index, members, snapshot.data);
      model.compact(index);
    },
  };
}

function install(index: number, term: number, entriesTo: number): Op {
  const snapshot = { ...snapshotAt(index, term), meta: { index, term, conf: members } };
  const entries = makeEntries(index + 1, entriesTo, term, payload);
  return {
    installs: snapshot,
    run: (storage) => storage.append({ entries, hardState: hardState(term, index, null), snapshot }),
    apply: (model) => {
      model.applySnapshot(snapshot);
      model.append(entries);
      model.setHardState(hardState(term, index, null));
    },
  };
}

const bootstrap: Op = { run: (storage) => storage.bootstrap(members), apply: (model) => model.bootstrap(members) };

/** Groups run one after another; the operations of a group are issued together (group commit). */
const workload: Op[][] = [
  [bootstrap],
  [append(1, 1, 1, 0), append(2, 3, 1, 1), append(4, 4, 1, 2), append(5, 6, 1, 3)],
  [append(7, 9, 1, 5), append(10, 12, 1, 6)],
  [append(10, 11, 2, 8)], // overwrites 10..12
  [append(12, 12, 2, 9), append(13, 14, 2, 10), append(15, 15, 2, 11)],
  [localSnapshot(8, 1)],
  [append(16, 18, 2, 12), append(19, 20, 2, 15)],
  [install(30, 3, 32)],
  [append(33, 34, 3, 31), append(35, 35, 3, 33)],
  [localSnapshot(34, 3)],
  [append(36, 38, 3, 34), append(37, 37, 4, 35)],
];
const ops = workload.flat();

function fromView(view: LogView): MemoryStorage {
  const storage = new MemoryStorage();
  if (view.snapshot.meta.index === 0) storage.bootstrap(view.snapshot.meta.conf);
  else storage.applySnapshot(view.snapshot);
  storage.append(view.entries);
  storage.setHardState(view.hardState);
  return storage;
}

/** Model views after each prefix of ops, and the half-installed state of each installed snapshot. */
function modelStates(): { after: LogView[]; halfInstalled: Map<number, LogView> } {
  const model = new MemoryStorage();
  const after = [viewOf(model)];
  const halfInstalled = new Map<number, LogView>();
  for (const [i, op] of ops.entries()) {
    if (op.installs) halfInstalled.set(i + 1, halfInstall(after[i]!, op.installs));
    op.apply(model);
    after.push(viewOf(fromView(viewOf(model))));
  }
  return { after, halfInstalled };
}

function halfInstall(before: LogView, snapshot: Snapshot): LogView {
  const { index, term } = snapshot.meta;
  const at = before.entries.find((entry) => entry.index === index);
  const matches = at ? at.term === term : before.snapshot.meta.index === index && before.snapshot.meta.term === term;
  return { hardState: before.hardState, snapshot, entries: matches ? before.entries.filter((entry) => entry.index > index) : [] };
}

async function runWorkload(storage: WalStorage, acknowledged: boolean[]): Promise<void> {
  let next = 0;
  for (const group of workload) {
    const start = next;
    next += group.length;
    await Promise.all(group.map((op, i) => op.run(storage).then(() => (acknowledged[start + i] = true))));
  }
}

const options = { segmentSizeBytes: 2048 };

test('after a power loss at any file-system call, recovery yields a prefix of the operations holding every acknowledged one', async () => {
  const states = modelStates();
  const full = new MemoryFileSystem();
  await runWorkload((await openStorage('/data', { ...options, fileSystem: full.mount() })).storage, []);
  const totalCalls = full.callCount;
  assert.ok((full.calls.get('unlink') ?? 0) > 0 && (full.calls.get('rename') ?? 0) > 3, 'the workload rotates, snapshots and compacts');
  let checked = 0;
  const seen = { unacknowledgedKept: 0, halfInstalled: 0, tornTails: 0 };
  for (let stopAt = 1; stopAt <= totalCalls; stopAt++) {
    for (const seed of [1, 2, 3, 4].map((k) => stopAt * 10 + k)) {
      const disk = new MemoryFileSystem();
      const acknowledged: boolean[] = ops.map(() => false);
      const stopped = disk.stopAt('any', stopAt);
      const life = async (): Promise<void> => runWorkload((await openStorage('/data', { ...options, fileSystem: disk.mount() })).storage, acknowledged);
      await Promise.race([stopped, life()]);
      disk.crash(testRandom(seed));
      const ackedPrefix = acknowledged.indexOf(false) === -1 ? ops.length : acknowledged.indexOf(false);
      assert.ok(acknowledged.slice(ackedPrefix).every((ack) => !ack), 'acknowledgements come in order');
      const reopened = await openStorage('/data', { ...options, fileSystem: disk.mount() });
      const view = viewOf(toMemoryStorage(reopened.recovered));
      const prefix = states.after.findIndex((state, length) => length >= ackedPrefix && isDeepStrictEqual(state, view));
      const half = [...states.halfInstalled].some(([length, state]) => length > ackedPrefix && isDeepStrictEqual(state, view));
      if (prefix > ackedPrefix) seen.unacknowledgedKept++;
      if (half && prefix === -1) seen.halfInstalled++;
      if (reopened.recovered.repairs.some((repair) => repair.includes('torn tail'))) seen.tornTails++;
      assert.ok(prefix !== -1 || half, `stop at call ${stopAt}, seed ${seed}: ${ackedPrefix} ops acknowledged, recovered ${JSON.stringify(view)}`);
      // The recovered storage takes writes again and keeps them.
      const last = view.entries.at(-1)?.index ?? view.snapshot.meta.index;
      await reopened.storage.append({ entries: makeEntries(last + 1, last + 1, 9), hardState: null, snapshot: null });
      await reopened.storage.close();
      const again = await openStorage('/data', { ...options, fileSystem: disk.mount() });
      assert.deepEqual(again.recovered.entries.at(-1), makeEntries(last + 1, last + 1, 9)[0]);
      await again.storage.close();
      checked++;
    }
  }
  assert.ok(checked >= 300, `only ${checked} crash points`);
  // The interesting outcomes all happened: durable but unacknowledged writes, torn tails cut, and a
  // snapshot whose file survived without its WAL record.
  assert.ok(seen.unacknowledgedKept > 0 && seen.halfInstalled > 0 && seen.tornTails > 0, JSON.stringify(seen));
});
