// One simulated Raft server's shell: the Raft core composed with simulated ports (disk, network,
// clock). It runs the Ready loop exactly as the real daemon must: persist the Ready to disk, wait for
// the sync, then send its messages, apply committed entries, and advance; it snapshots and compacts,
// and restarts from what the disk holds. The state machine on top (key-value store, cluster store)
// is a subclass. Invariant: no message leaves before the state it depends on is durable (unless the
// planted bug lost-unsynced-ack is on); a crash keeps only what the disk synced.

import { emptyHardState, MemoryStorage, RaftNode, type HardState, type ConfState, type Entry, type Message, type NodeId, type RaftBugs, type Ready, type Role } from '../core/raft/index.ts';
import type { SimDisk, SyncToken } from './disk.ts';
import type { DiskRecord, DurableView, LogView, SimObserver } from './protocol.ts';
import type { Rng } from './rng.ts';

export interface ShellEnv {
  nowUs(): number;
  send(message: Message): void;
  scheduleSync(host: RaftShell, token: SyncToken): void;
  readonly observer: SimObserver;
}

export interface ShellConfig {
  readonly electionTicks: number;
  readonly maxMsgBytes: number;
  readonly maxInflightMsgs: number;
  readonly snapshotChunkBytes: number;
  /** Take a snapshot and compact once this many entries were applied since the last one. */
  readonly snapshotEveryEntries: number;
  /** Entries kept behind a snapshot so slightly lagging followers need no snapshot. */
  readonly keepEntriesAfterSnapshot: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly raftBugs: RaftBugs;
  /** Planted bug lost-unsynced-ack: send (and so acknowledge) before the disk sync completes. */
  readonly ackBeforeSync: boolean;
}

/** How long a node waits before retrying a write its full disk refused. */
const diskFullRetryUs = 10_000;

export abstract class RaftShell {
  up = false;
  paused = false;
  /** Increments at every crash, so events from an earlier life are ignored. */
  epoch = 0;
  node!: RaftNode;
  storage!: MemoryStorage;
  private inflight: { ready: Ready; token: SyncToken; sent: boolean } | null = null;
  protected appliedIndex = 0;
  private lastSnapshotIndex = 0;
  protected life = 0;
  private commitSeen = 0;
  private readonly logView: LogView = ((host: RaftShell): LogView => ({
    get firstIndex() {
      return host.node.status().firstIndex;
    },
    get lastIndex() {
      return host.node.status().lastIndex;
    },
    termAt: (index) => host.node.termAt(index),
  }))(this);
  private readonly durable: DurableView = {
    hardState: emptyHardState,
    lastIndex: 0,
    termAt: (index) => {
      try {
        return index >= this.storage.firstIndex() - 1 && index <= this.storage.lastIndex() ? this.storage.term(index) : undefined;
      } catch {
        return undefined;
      }
    },
  };

  constructor(
    readonly id: NodeId,
    readonly disk: SimDisk<DiskRecord>,
    private readonly rng: Rng,
    private readonly shellConfig: ShellConfig,
    private readonly shellEnv: ShellEnv,
  ) {}

  // ---- the state machine on top ----

  /** Replace the state machine's state with a snapshot's (at start and when one is installed). */
  protected abstract restoreState(data: string): void;
  protected abstract snapshotState(): string;
  /** Apply a committed normal entry with a command. */
  protected abstract applyCommand(entry: Entry): void;
  /** After a crash: forget everything volatile. */
  protected onCrash(): void {}
  /** Before each tick of the Raft clock. */
  protected onTick(): void {}
  /** The node's role changed (taken from a Ready). */
  protected onRoleChange(_role: Role): void {}
  /** After the committed entries of a Ready were applied, before advance. */
  protected afterApply(_ready: Ready): void {}

  /** First start of a member of the initial configuration. */
  bootstrap(conf: ConfState): void {
    // Written like a snapshot file: to a temporary file, fsynced, renamed; durable at once.
    this.disk.rewrite([{ type: 'bootstrap', conf }], this.shellEnv.nowUs());
    this.start();
  }

  /** Start (or restart) the process from what the disk holds. */
  start(): void {
    const { records } = this.disk.load();
    const storage = new MemoryStorage();
    for (const record of records) {
      if (record.type === 'bootstrap') storage.bootstrap(record.conf);
      else {
        if (record.snapshot) storage.applySnapshot(record.snapshot);
        storage.append(record.entries);
        if (record.hardState) storage.setHardState(record.hardState);
      }
    }
    const snap = storage.snapshot();
    this.storage = storage;
    this.restoreState(snap.data);
    this.appliedIndex = snap.meta.index;
    this.lastSnapshotIndex = snap.meta.index;
    this.life++;
    const random = this.rng.child(`raft/life-${this.life}`);
    this.node = new RaftNode(
      {
        id: this.id,
        random: () => random.float(),
        applied: snap.meta.index,
        electionTicks: this.shellConfig.electionTicks,
        maxMsgBytes: this.shellConfig.maxMsgBytes,
        maxInflightMsgs: this.shellConfig.maxInflightMsgs,
        preVote: this.shellConfig.preVote,
        checkQuorum: this.shellConfig.checkQuorum,
        snapshotChunkBytes: this.shellConfig.snapshotChunkBytes,
        bugs: this.shellConfig.raftBugs,
      },
      storage,
    );
    this.up = true;
    this.paused = false;
    this.commitSeen = this.node.commitIndex();
    this.shellEnv.observer.onRestart(this.id, storage.getHardState(), this.shellEnv.nowUs());
  }

  crash(): void {
    this.up = false;
    this.paused = false;
    this.epoch++;
    this.inflight = null;
    this.onCrash();
    this.disk.crash();
  }

  tick(): void {
    this.onTick();
    this.node.tick();
    this.afterStep();
  }

  receive(message: Message): void {
    this.node.step(message);
    this.afterStep();
  }

  /** An operator call on this node (membership change, leadership transfer), then its Ready loop. */
  operate<T>(call: (node: RaftNode) => T): T {
    const result = call(this.node);
    this.afterStep();
    return result;
  }

  protected afterStep(): void {
    const commit = this.node.commitIndex();
    if (commit !== this.commitSeen) {
      if (commit > this.commitSeen && this.node.role() === 'leader') {
        this.shellEnv.observer.onLeaderCommit(this.id, this.node.term(), commit, this.logView, this.shellEnv.nowUs());
      }
      this.commitSeen = commit;
    }
    this.pump();
  }

  protected send(message: Message): void {
    (this.durable as { hardState: HardState }).hardState = this.storage.getHardState();
    (this.durable as { lastIndex: number }).lastIndex = this.storage.lastIndex();
    this.shellEnv.observer.onSend(this.id, message, this.durable, this.shellEnv.nowUs());
    this.shellEnv.send(message);
  }

  /** Drive the Ready loop until it waits on the disk or has nothing to do. */
  pump(): void {
    while (this.up && this.inflight === null && this.node.hasReady()) {
      const ready = this.node.ready();
      if (ready.softState) {
        const status = this.node.status();
        this.shellEnv.observer.onSoftState(this.id, ready.softState.role, status.term, this.shellEnv.nowUs(), this.logView);
        this.onRoleChange(ready.softState.role);
      }
      if (ready.snapshot === null && ready.entries.length === 0 && ready.hardState === null) {
        this.finish(ready, false);
        continue;
      }
      this.persist(ready);
    }
  }

  /** Write the Ready as one record and start its sync; a full disk holds it for a retry. */
  private persist(ready: Ready): void {
    const record: DiskRecord = { type: 'ready', snapshot: ready.snapshot, entries: ready.entries, hardState: ready.hardState };
    if (!this.disk.append(record, this.shellEnv.nowUs())) {
      // Nothing was written, so nothing may be sent or acknowledged: hold the Ready and retry.
      this.inflight = { ready, token: { doneAtUs: this.shellEnv.nowUs() + diskFullRetryUs, upto: -1, epoch: -1 }, sent: false };
      this.shellEnv.scheduleSync(this, this.inflight.token);
      return;
    }
    const token = this.disk.beginSync(this.shellEnv.nowUs());
    const sent = this.shellConfig.ackBeforeSync;
    if (sent) for (const m of ready.messages) this.send(m);
    this.inflight = { ready, token, sent };
    this.shellEnv.scheduleSync(this, token);
  }

  /** The disk sync of the in-flight Ready completed (or a full disk's retry is due). */
  syncDone(token: SyncToken): void {
    const inflight = this.inflight;
    if (!this.up || inflight === null || inflight.token !== token) return;
    if (token.upto === -1) {
      this.inflight = null;
      this.persist(inflight.ready); // the retry of a write a full disk refused
      return;
    }
    if (!this.disk.completeSync(token, this.shellEnv.nowUs())) return;
    this.inflight = null;
    const ready = inflight.ready;
    if (ready.snapshot) this.storage.applySnapshot(ready.snapshot);
    this.storage.append(ready.entries);
    if (ready.hardState) {
      this.storage.setHardState(ready.hardState);
      this.shellEnv.observer.onHardStateSynced(this.id, ready.hardState, this.shellEnv.nowUs());
    }
    this.finish(ready, inflight.sent);
    this.pump();
  }

  private finish(ready: Ready, alreadySent: boolean): void {
    if (!alreadySent) for (const m of ready.messages) this.send(m);
    if (ready.snapshot) this.installSnapshot(ready.snapshot.data, ready.snapshot.meta.index, ready.snapshot.meta.term);
    for (const entry of ready.committed) this.apply(entry);
    this.afterApply(ready);
    this.node.advance(ready);
    this.maybeCompact();
  }

  private installSnapshot(data: string, index: number, term: number): void {
    this.restoreState(data);
    this.appliedIndex = index;
    this.lastSnapshotIndex = index;
    this.shellEnv.observer.onSnapshotApplied(this.id, index, term, this.shellEnv.nowUs());
  }

  private apply(entry: Entry): void {
    this.shellEnv.observer.onApply(this.id, entry, this.shellEnv.nowUs());
    this.appliedIndex = entry.index;
    if (entry.type === 'conf') this.node.applyConfEntry(entry);
    else if (entry.data !== '') this.applyCommand(entry);
  }

  private maybeCompact(): void {
    if (this.inflight !== null) return;
    const status = this.node.status();
    if (this.appliedIndex - this.lastSnapshotIndex < this.shellConfig.snapshotEveryEntries) return;
    if (this.appliedIndex > this.storage.lastIndex()) return;
    const snap = this.storage.createSnapshot(this.appliedIndex, status.conf, this.snapshotState());
    this.lastSnapshotIndex = this.appliedIndex;
    const compactTo = Math.max(this.storage.firstIndex() - 1, this.appliedIndex - this.shellConfig.keepEntriesAfterSnapshot);
    this.storage.compact(compactTo);
    // Atomic rewrite: the snapshot, the entries kept after the compaction point, and the hard state.
    const entries = this.storage.lastIndex() >= this.storage.firstIndex() ? this.storage.entries(this.storage.firstIndex(), this.storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER) : [];
    this.disk.rewrite([{ type: 'ready', snapshot: snap, entries, hardState: this.storage.getHardState() }], this.shellEnv.nowUs());
  }

  appliedTo(): number {
    return this.appliedIndex;
  }
}
