// One simulated Raft server's shell: the Raft core composed with simulated ports (disk, network,
// clock). It runs the pipelined Ready loop exactly as the real daemon (adapters/daemon/raft-server.ts)
// does, with the same decisions (core/raft/ready-plan.ts): it takes a Ready while earlier ones are still being written, writes each one's record and
// starts its sync, and processes the Readies strictly in the order taken once each one's write (and
// so every earlier one) is durable: record it in storage, send its messages, tell the core. A
// leader's appends and heartbeats leave at once (Raft thesis §10.2.1: the core counts its own copy
// only once persisted); committed entries are applied when taken (they are durable here and on a
// majority), except a snapshot or a membership change, applied when processed with no later Ready
// taken meanwhile. It snapshots and compacts, and restarts from what the disk holds. The state
// machine on top (key-value store, cluster store) is a subclass.
// Invariants: no message but a leader's appends and heartbeats leaves before the state it depends on
// is durable (unless the planted bugs lost-unsynced-ack or pipeline-early-reply are on); records
// reach the disk in the order their Readies were taken; `storage` holds exactly what is durable (a
// commit index alone is not written on its own: it rides along with the next record); a crash keeps
// only what the disk synced.

import { emptyHardState, MemoryStorage, planReady, RaftNode, type HardState, type ConfState, type Entry, type Message, type NodeId, type RaftBugs, type Ready, type ReadyPlan, type Role } from '../core/raft/index.ts';
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
  /** Planted bug lost-unsynced-ack: send (and so acknowledge) when a Ready is taken, before its sync. */
  readonly ackBeforeSync: boolean;
  /** Planted bug pipeline-early-reply: a Ready with nothing to write sends at once, before the writes in flight. */
  readonly pipelineEarlyReply: boolean;
}

type ReadyRecord = Extract<DiskRecord, { type: 'ready' }>;

/** A Ready taken and not yet processed. */
interface Pending {
  readonly ready: Ready;
  /** Messages to send once this Ready's write and every earlier one are durable. */
  readonly after: readonly Message[];
  /** Its snapshot and committed entries are applied when it is processed, not when taken. */
  readonly deferApply: boolean;
  /** What it writes; null: nothing, it only waits for the writes before it. */
  readonly record: ReadyRecord | null;
  /** The sync covering its record, once the record is on the disk. */
  token: SyncToken | null;
  durable: boolean;
}

/** How long a node waits before retrying a write its full disk refused. */
const diskFullRetryUs = 10_000;
/** Bound on Readies taken and not yet processed; at the bound the loop waits for the disk. */
const maxPendingReadies = 1024;

export abstract class RaftShell {
  up = false;
  paused = false;
  /** Increments at every crash, so events from an earlier life are ignored. */
  epoch = 0;
  node!: RaftNode;
  storage!: MemoryStorage;
  /** Readies taken and not yet processed, oldest first (see pump). */
  private pending: Pending[] = [];
  /** A Ready applied only when processed (a snapshot, a membership change) is pending. */
  private barrier = false;
  /** A snapshot is due: no Ready is taken until the writes in flight are processed (see pump). */
  private snapshotWaiting = false;
  /** The pending Ready whose write a full disk refused; nothing is taken until it is written. */
  private held: Pending | null = null;
  private retryToken: SyncToken | null = null;
  private pumping = false;
  /** The latest hard state taken, and the last one put in a record (handed to the disk). */
  private hardLatest: HardState = emptyHardState;
  private hardRecorded: HardState = emptyHardState;
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
  /** When a Ready is processed: its committed entries are applied, its read states may be served. */
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
    this.hardLatest = this.hardRecorded = storage.getHardState();
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
    this.pending = [];
    this.barrier = false;
    this.snapshotWaiting = false;
    this.held = null;
    this.retryToken = null;
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
    this.observeCommit();
    this.pump();
  }

  /** The commit index moved (a step, or the leader's own write counted by persisted()). */
  private observeCommit(): void {
    const commit = this.node.commitIndex();
    if (commit === this.commitSeen) return;
    if (commit > this.commitSeen && this.node.role() === 'leader') {
      this.shellEnv.observer.onLeaderCommit(this.id, this.node.term(), commit, this.logView, this.shellEnv.nowUs());
    }
    this.commitSeen = commit;
  }

  protected send(message: Message): void {
    (this.durable as { hardState: HardState }).hardState = this.storage.getHardState();
    (this.durable as { lastIndex: number }).lastIndex = this.storage.lastIndex();
    this.shellEnv.observer.onSend(this.id, message, this.durable, this.shellEnv.nowUs());
    this.shellEnv.send(message);
  }

  /**
   * Drive the Ready loop: take every Ready the node has (each one's write queued behind the ones in
   * flight), and process, in order, those whose write is durable. A re-entrant call (an apply that
   * proposes) only leaves work for the loop already running, which goes on until nothing moves.
   */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let moved = true; moved && this.up; ) {
        moved = false;
        while (this.canTake() && this.node.hasReadyPipelined()) {
          this.take(this.node.readyPipelined());
          moved = true;
        }
        while (this.up && this.pending.length > 0 && this.pending[0]!.durable) {
          this.process(this.pending.shift()!);
          moved = true;
        }
        // The rewrite that compacts replaces the whole file, so it waits until no write is in
        // flight; meanwhile no Ready is taken, so that moment comes within a sync.
        const due = this.up && this.snapshotDue();
        this.snapshotWaiting = due && this.pending.length > 0;
        if (due && this.pending.length === 0) {
          this.compact();
          moved = true;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private canTake(): boolean {
    return this.up && !this.barrier && !this.snapshotWaiting && this.held === null && this.pending.length < maxPendingReadies;
  }

  private take(ready: Ready): void {
    if (ready.softState) {
      const status = this.node.status();
      this.shellEnv.observer.onSoftState(this.id, ready.softState.role, status.term, this.shellEnv.nowUs(), this.logView);
      this.onRoleChange(ready.softState.role);
    }
    if (ready.hardState) this.hardLatest = ready.hardState;
    const plan = planReady(ready, this.node.role(), this.hardRecorded, this.storage.getHardState());
    const after = this.sendEarly(ready, plan);
    if (!plan.deferApply) this.applyCommitted(ready.committed);
    else this.barrier = true;
    let record: ReadyRecord | null = null;
    if (plan.needsWrite) {
      record = { type: 'ready', snapshot: ready.snapshot, entries: ready.entries, hardState: this.hardLatest !== this.hardRecorded ? this.hardLatest : null };
      this.hardRecorded = this.hardLatest;
    }
    const item: Pending = { ready, after, deferApply: plan.deferApply, record, token: null, durable: record === null };
    this.pending.push(item);
    if (record) this.write(item);
  }

  /** Sends what may leave as the Ready is taken (see planReady, or all of it under a planted bug); returns the rest. */
  private sendEarly(ready: Ready, plan: ReadyPlan): readonly Message[] {
    if (this.shellConfig.ackBeforeSync || (!plan.needsWrite && this.shellConfig.pipelineEarlyReply)) {
      for (const m of ready.messages) this.send(m);
      return [];
    }
    for (const m of plan.early) this.send(m);
    return plan.after;
  }

  /** Append the Ready's record and start its sync; a full disk holds it (and the loop) for a retry. */
  private write(item: Pending): void {
    const nowUs = this.shellEnv.nowUs();
    if (!this.disk.append(item.record!, nowUs)) {
      // Nothing was written, so nothing after it may be: it stays the last pending Ready until then.
      this.held = item;
      this.retryToken = { doneAtUs: nowUs + diskFullRetryUs, upto: -1, epoch: -1 };
      this.shellEnv.scheduleSync(this, this.retryToken);
      return;
    }
    this.held = null;
    item.token = this.disk.beginSync(nowUs);
    this.shellEnv.scheduleSync(this, item.token);
  }

  /** A disk sync completed (or a full disk's retry is due). */
  syncDone(token: SyncToken): void {
    if (!this.up) return;
    if (token === this.retryToken) {
      this.retryToken = null;
      this.write(this.held!);
      this.pump();
      return;
    }
    if (token.upto < 0 || !this.disk.completeSync(token, this.shellEnv.nowUs())) return;
    // Syncs may complete out of order: this one made every record before its position durable too.
    for (const item of this.pending) if (item.token !== null && item.token.upto <= token.upto) item.durable = true;
    this.pump();
  }

  /** A Ready whose write (and every earlier one) is durable: record it, send, apply, tell the node. */
  private process(item: Pending): void {
    const { ready, record } = item;
    if (record) {
      if (record.snapshot) this.storage.applySnapshot(record.snapshot);
      this.storage.append(record.entries);
      if (record.hardState) {
        this.storage.setHardState(record.hardState);
        this.shellEnv.observer.onHardStateSynced(this.id, record.hardState, this.shellEnv.nowUs());
      }
    }
    for (const m of item.after) this.send(m);
    if (item.deferApply) {
      if (ready.snapshot) this.installSnapshot(ready.snapshot.data, ready.snapshot.meta.index, ready.snapshot.meta.term);
      this.applyCommitted(ready.committed);
    }
    this.afterApply(ready);
    this.node.persisted(ready);
    this.node.applied(ready);
    this.observeCommit();
    if (item.deferApply) this.barrier = false;
  }

  private installSnapshot(data: string, index: number, term: number): void {
    this.restoreState(data);
    this.appliedIndex = index;
    this.lastSnapshotIndex = index;
    this.shellEnv.observer.onSnapshotApplied(this.id, index, term, this.shellEnv.nowUs());
  }

  private applyCommitted(entries: readonly Entry[]): void {
    for (const entry of entries) {
      this.shellEnv.observer.onApply(this.id, entry, this.shellEnv.nowUs());
      this.appliedIndex = entry.index;
      if (entry.type === 'conf') this.node.applyConfEntry(entry);
      else if (entry.data !== '') this.applyCommand(entry);
    }
  }

  private snapshotDue(): boolean {
    return this.appliedIndex - this.lastSnapshotIndex >= this.shellConfig.snapshotEveryEntries && this.appliedIndex <= this.storage.lastIndex();
  }

  /** Snapshot at the applied index and rewrite the disk as that snapshot, the kept tail and the hard state. */
  private compact(): void {
    if (this.pending.length > 0) throw new Error(`${this.id}: compaction with ${this.pending.length} Readies pending would drop their records`);
    const snap = this.storage.createSnapshot(this.appliedIndex, this.node.status().conf, this.snapshotState());
    this.lastSnapshotIndex = this.appliedIndex;
    const compactTo = Math.max(this.storage.firstIndex() - 1, this.appliedIndex - this.shellConfig.keepEntriesAfterSnapshot);
    this.storage.compact(compactTo);
    const entries = this.storage.lastIndex() >= this.storage.firstIndex() ? this.storage.entries(this.storage.firstIndex(), this.storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER) : [];
    // Nothing is pending, so the latest hard state differs from the durable one at most in its
    // commit index (at least the snapshot's), which the atomic rewrite makes durable too.
    const hard = this.hardLatest;
    this.disk.rewrite([{ type: 'ready', snapshot: snap, entries, hardState: hard }], this.shellEnv.nowUs());
    this.storage.setHardState(hard);
    this.hardRecorded = hard;
    this.shellEnv.observer.onHardStateSynced(this.id, hard, this.shellEnv.nowUs());
  }

  appliedTo(): number {
    return this.appliedIndex;
  }
}
