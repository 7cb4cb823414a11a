// The storage under a real Raft core, driven the way the daemon will drive it (as sim/raft-shell.ts
// does with the simulated disk): persist each Ready, then advance; snapshot and compact now and then;
// restart from what the directory holds, and find the node with its log, commit and state intact.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId, RaftNode, type Entry, type MemoryStorage } from '../../core/raft/index.ts';
import { openStorage, toMemoryStorage, type WalStorage } from './index.ts';
import { conf, viewOf, withTempDir } from './testing.ts';

const me = nodeId('n1');

/** One life of a single-node cluster: a node, its storage, and the commands it applied. */
class Life {
  applied: string[] = [];
  constructor(
    readonly node: RaftNode,
    readonly memory: MemoryStorage,
    readonly storage: WalStorage,
  ) {}

  /** The Ready loop: persist, apply committed entries, advance; snapshot every 20 applied entries. */
  async pump(): Promise<void> {
    while (this.node.hasReady()) {
      const ready = this.node.ready();
      await this.storage.append(ready);
      if (ready.snapshot) this.memory.applySnapshot(ready.snapshot);
      this.memory.append(ready.entries);
      if (ready.hardState) this.memory.setHardState(ready.hardState);
      for (const entry of ready.committed) this.apply(entry);
      this.node.advance(ready);
      await this.maybeSnapshot();
    }
  }

  private apply(entry: Entry): void {
    if (entry.type === 'conf') this.node.applyConfEntry(entry);
    else if (entry.data !== '') this.applied.push(entry.data);
  }

  private async maybeSnapshot(): Promise<void> {
    const index = this.node.status().applied;
    if (index - this.memory.snapshot().meta.index < 20 || index > this.memory.lastIndex()) return;
    const snapshot = this.memory.createSnapshot(index, this.node.status().conf, JSON.stringify(this.applied));
    this.memory.compact(index);
    await this.storage.saveSnapshot(snapshot);
  }
}

async function start(dir: string, bootstrap: boolean): Promise<Life> {
  const { storage, recovered } = await openStorage(dir, { segmentSizeBytes: 2048 });
  const memory = toMemoryStorage(recovered);
  if (bootstrap) {
    await storage.bootstrap(conf('n1'));
    memory.bootstrap(conf('n1'));
  }
  const snapshot = memory.snapshot();
  const node = new RaftNode({ id: me, random: () => 0.5, applied: snapshot.meta.index }, memory);
  const life = new Life(node, memory, storage);
  life.applied = snapshot.data === '' ? [] : (JSON.parse(snapshot.data) as string[]);
  return life;
}

async function propose(life: Life, count: number, tag: string): Promise<void> {
  for (let i = 0; i < 200 && life.node.role() !== 'leader'; i++) {
    life.node.tick();
    await life.pump();
  }
  assert.equal(life.node.role(), 'leader');
  for (let i = 0; i < count; i++) {
    assert.ok(life.node.propose(`${tag}-${i}`).ok);
    await life.pump();
  }
}

test('a Raft node persisting its Readies here restarts with the same log, hard state and applied commands', () =>
  withTempDir(async (dir) => {
    const first = await start(dir, true);
    await propose(first, 50, 'a');
    const before = viewOf(first.memory);
    const appliedBefore = [...first.applied];
    await first.storage.close();

    const second = await start(dir, false);
    assert.deepEqual(viewOf(second.memory), before);
    await propose(second, 30, 'b'); // elects itself again (new term), replays and applies the rest
    assert.deepEqual(second.applied.slice(0, appliedBefore.length), appliedBefore);
    assert.deepEqual(second.applied.slice(-30), Array.from({ length: 30 }, (_, i) => `b-${i}`));
    assert.ok(second.storage.status().segmentCount < 6, 'snapshots compacted the log');
    const after = viewOf(second.memory);
    await second.storage.close();

    const third = await start(dir, false);
    assert.deepEqual(viewOf(third.memory), after);
    await third.storage.close();
  }));
