// One real Raft server: the Raft core (core/raft) on the write-ahead log (adapters/storage), with a
// transport for its messages and a state machine on top, driven by the same pipelined Ready loop the
// simulator runs (sim/raft-shell.ts), both following core/raft/ready-plan.ts: take each Ready once
// per turn of the event loop and queue its write
// behind the writes in flight (the WAL group-commits them), apply its committed entries at once
// (they are durable already), and when its write is durable send its messages and tell the node;
// snapshot and compact every so many entries. Ticks come from a timer.
// Invariants: no message leaves before the state it depends on is durable (a Ready's messages wait
// for its write and every earlier one; only a leader's appends and heartbeats go first); writes are
// queued in the order the Readies were taken and complete in that order; a disk-full write is held
// and retried, with everything after it, once the disk has room again (nothing is sent or
// acknowledged meanwhile, reads keep working); any other storage failure stops the server (its state
// on disk is then only trusted after a restart's recovery).

import { randomInt } from 'node:crypto';
import { nodeId, noBugs, planReady, RaftNode, type ConfEntryData, type Entry, type HardState, type Message, type Ready, type Role } from '../../core/raft/index.ts';
import { StorageError, toMemoryStorage, type Recovered, type WalStorage } from '../storage/index.ts';
import type { MemoryStorage } from '../../core/raft/index.ts';

export interface StateMachine {
  /** Replace the state with a snapshot's data ('' for the empty state). */
  restore(data: string): void;
  snapshot(): string;
  /** A committed command entry (conf entries are handled by the server). */
  apply(entry: Entry): void;
  /** Before each Raft tick. */
  onTick(): void;
  /** The node's role changed (seen in a Ready). */
  onRoleChange(role: Role): void;
  /** The Ready loop went idle: deliver answers found while applying. */
  afterLoop(): void;
  /** A membership change was applied (after the node applied it). */
  onConf?(change: ConfEntryData): void;
}

export interface RaftServerOptions {
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly snapshotEveryEntries: number;
  readonly keepEntriesAfterSnapshot: number;
  readonly maxMsgBytes: number;
  readonly maxInflightMsgs: number;
  readonly snapshotChunkBytes: number;
  /** How often a server held by a full disk checks for room again. */
  readonly diskFullRetryMs: number;
}

export const defaultRaftServerOptions: RaftServerOptions = {
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 1,
  snapshotEveryEntries: 10_000,
  keepEntriesAfterSnapshot: 1_000,
  maxMsgBytes: 1 << 20,
  maxInflightMsgs: 256,
  snapshotChunkBytes: 1 << 20,
  diskFullRetryMs: 1_000,
};

export interface RaftServerEvents {
  /** The storage failed for good: the server stopped; the daemon should exit and be restarted. */
  fatal(error: Error): void;
  /** The disk filled up (true) or has room again (false). */
  diskFull(full: boolean): void;
  /** A snapshot could not be saved (the disk is full): the log keeps growing until the next one. */
  snapshotFailed(error: Error): void;
}

/** Ticks made up at most per timer firing: a long stall is not replayed as a burst of elections. */
const MAX_CATCH_UP_TICKS = 4;

interface Pending {
  readonly ready: Ready;
  /** Messages to send once this Ready's write and every earlier one are durable. */
  readonly after: readonly Message[];
  /** Its committed entries (and snapshot) are applied when it is processed, not when taken. */
  readonly deferApply: boolean;
  /** The hard state its write carries: the latest, when not written yet (a new commit index rides along). */
  readonly hard: HardState | null;
  durable: boolean;
}

export type ServerState = 'running' | 'disk-full' | 'stopped' | 'failed';

export class RaftServer {
  readonly node: RaftNode;
  private readonly memory: MemoryStorage;
  private appliedIndex: number;
  private lastSnapshotIndex: number;
  /** Readies taken and not yet processed, oldest first (see pump). */
  private readonly pending: Pending[] = [];
  /** A Ready applied only when processed (a snapshot, a membership change) is pending. */
  private barrier = false;
  private snapshotting = false;
  private pumping = false;
  private pumpScheduled = false;
  /**
   * The latest hard state the node gave, and the one last put in a write (handed to the storage:
   * a Ready changing its term or vote must be written).
   */
  private latestHard: HardState;
  private recordedHard: HardState;
  private timer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private state: ServerState = 'running';
  /** Resolves when every write and snapshot in flight is done. */
  private idle: Promise<void> = Promise.resolve();

  constructor(
    readonly id: string,
    private readonly storage: WalStorage,
    recovered: Recovered,
    private readonly send: (messages: readonly Message[]) => void,
    private readonly machine: StateMachine,
    private readonly options: RaftServerOptions = defaultRaftServerOptions,
    private readonly events: RaftServerEvents = { fatal: () => {}, diskFull: () => {}, snapshotFailed: () => {} },
  ) {
    // A snapshot holds only committed entries, and the commit index is synced only with other
    // writes, so the recorded commit may predate the latest snapshot: it is at least its index.
    const snapshotIndex = recovered.snapshot?.meta.index ?? 0;
    const hard = recovered.hardState.commit < snapshotIndex ? { ...recovered.hardState, commit: snapshotIndex } : recovered.hardState;
    this.memory = toMemoryStorage({ ...recovered, hardState: hard });
    this.latestHard = this.recordedHard = hard;
    const snap = this.memory.snapshot();
    machine.restore(snap.meta.index === 0 ? '' : snap.data);
    this.appliedIndex = snap.meta.index;
    this.lastSnapshotIndex = snap.meta.index;
    this.node = new RaftNode({
      id: nodeId(id),
      random: () => randomInt(0, 2 ** 32) / 2 ** 32,
      applied: snap.meta.index,
      electionTicks: options.electionTicks,
      heartbeatTicks: options.heartbeatTicks,
      maxMsgBytes: options.maxMsgBytes,
      maxInflightMsgs: options.maxInflightMsgs,
      snapshotChunkBytes: options.snapshotChunkBytes,
      preVote: true,
      checkQuorum: true,
      bugs: noBugs,
    }, this.memory);
  }

  start(): void {
    // Ticks follow the wall clock: a timer that fires late (a busy event loop, a loaded machine)
    // is made up for with the ticks it missed (a few at most), so election timeouts and heartbeats
    // keep their length in milliseconds instead of stretching with the load.
    const tickMs = this.options.tickMs;
    let due = performance.now() + tickMs;
    this.timer = setInterval(() => {
      const now = performance.now();
      for (let n = 0; due <= now && n < MAX_CATCH_UP_TICKS; n++) {
        this.tick();
        due += tickMs;
      }
      if (due <= now) due = now + tickMs;
    }, tickMs);
    this.timer.unref?.();
    this.pump();
  }

  status(): { readonly state: ServerState; readonly applied: number; readonly snapshotIndex: number } {
    return { state: this.state, applied: this.appliedIndex, snapshotIndex: this.lastSnapshotIndex };
  }

  appliedTo(): number {
    return this.appliedIndex;
  }

  /** A message from a peer. */
  receive(message: Message): void {
    if (this.state === 'stopped' || this.state === 'failed') return;
    this.node.step(message);
    this.pump();
  }

  /** Run `call` on the node (a proposal, a membership change), then the Ready loop. */
  operate<T>(call: (node: RaftNode) => T): T {
    const result = call(this.node);
    this.pump();
    return result;
  }

  tick(): void {
    if (this.state === 'stopped' || this.state === 'failed') return;
    this.machine.onTick();
    this.node.tick();
    this.pump();
  }

  /** Stop ticking and wait for the Ready in flight; the storage stays open for the caller to close. */
  async stop(): Promise<void> {
    if (this.state !== 'failed') this.state = 'stopped';
    if (this.timer) clearInterval(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.timer = null;
    this.retryTimer = null;
    await this.idle;
  }

  /**
   * Runs the Ready loop soon: once the I/O callbacks of this turn of the event loop have run, so the
   * proposals and messages that arrived together go out as one Ready (one append per follower, one
   * write) instead of one each.
   */
  pump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.run();
    });
  }

  /**
   * The Ready loop: take every Ready the node has (each one's write queued behind the ones in
   * flight), and process, in order, those whose write is durable. Re-entrant calls (an apply that
   * proposes) only leave work for the loop already running, which goes on until nothing moves.
   */
  private run(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let moved = true; moved; ) {
        moved = false;
        while (this.state === 'running' && !this.barrier && !this.snapshotting && this.node.hasReadyPipelined()) {
          this.take(this.node.readyPipelined());
          moved = true;
        }
        while (this.state !== 'failed' && this.pending.length > 0 && this.pending[0]!.durable) {
          this.process(this.pending.shift()!);
          moved = true;
        }
      }
      if (this.state === 'running' && !this.snapshotting && this.snapshotDue()) {
        this.snapshotting = true;
        this.track(this.snapshotThen());
      }
    } finally {
      this.pumping = false;
    }
    this.machine.afterLoop();
  }

  private take(ready: Ready): void {
    if (ready.softState) this.machine.onRoleChange(ready.softState.role);
    if (ready.hardState) this.latestHard = ready.hardState;
    const plan = planReady(ready, this.node.role(), this.recordedHard, this.memory.getHardState());
    if (plan.early.length > 0) this.send(plan.early);
    if (!plan.deferApply) this.applyCommitted(ready);
    else this.barrier = true;
    const hard = plan.needsWrite && this.latestHard !== this.recordedHard ? this.latestHard : null;
    if (plan.needsWrite) this.recordedHard = this.latestHard;
    const item: Pending = { ready, after: plan.after, deferApply: plan.deferApply, hard, durable: !plan.needsWrite };
    this.pending.push(item);
    if (plan.needsWrite) this.write(item);
  }

  private write(item: Pending): void {
    const { ready } = item;
    this.track(
      this.storage.append({ entries: ready.entries, hardState: item.hard, snapshot: ready.snapshot }).then(
        () => {
          item.durable = true;
          this.pump();
        },
        (error: unknown) => this.onStorageError(error),
      ),
    );
  }

  /** A Ready whose write (and every earlier one) is durable: record it, send, apply, tell the node. */
  private process(item: Pending): void {
    const { ready } = item;
    if (ready.snapshot) this.memory.applySnapshot(ready.snapshot);
    this.memory.append(ready.entries);
    if (ready.hardState) this.memory.setHardState(ready.hardState);
    if (item.after.length > 0) this.send(item.after);
    if (ready.snapshot) {
      this.machine.restore(ready.snapshot.data);
      this.appliedIndex = ready.snapshot.meta.index;
      this.lastSnapshotIndex = ready.snapshot.meta.index;
    }
    if (item.deferApply) this.applyCommitted(ready);
    this.node.persisted(ready);
    this.node.applied(ready);
    if (item.deferApply) this.barrier = false;
  }

  /** Keeps `idle` resolving only once every write and snapshot started so far has settled. */
  private track(work: Promise<void>): void {
    this.idle = Promise.all([this.idle, work]).then(() => {});
  }

  private onStorageError(error: unknown): void {
    if (error instanceof StorageError && error.code === 'disk-full') {
      // A failed write rejects everything queued behind it, so nothing from the first failed Ready
      // on was written: hold them all, and write them again, in order, once there is room.
      if (this.state !== 'running') return;
      this.state = 'disk-full';
      this.events.diskFull(true);
      const retry = async (): Promise<void> => {
        this.retryTimer = null;
        if (this.state !== 'disk-full') return;
        const now = await this.storage.probe();
        if (this.state !== 'disk-full') return;
        if (now !== 'ok') {
          this.retryTimer = setTimeout(() => void retry(), this.options.diskFullRetryMs);
          return;
        }
        this.state = 'running';
        this.events.diskFull(false);
        for (const item of this.pending) if (!item.durable) this.write(item);
        this.pump();
      };
      this.retryTimer = setTimeout(() => void retry(), this.options.diskFullRetryMs);
      return;
    }
    this.fail(error);
  }

  private fail(error: unknown): void {
    if (this.state === 'stopped') return;
    this.state = 'failed';
    if (this.timer) clearInterval(this.timer);
    this.events.fatal(error instanceof Error ? error : new Error(String(error)));
  }

  private applyCommitted(ready: Ready): void {
    for (const entry of ready.committed) {
      this.appliedIndex = entry.index;
      if (entry.type === 'conf') {
        this.node.applyConfEntry(entry);
        this.machine.onConf?.(JSON.parse(entry.data) as ConfEntryData);
      } else if (entry.data !== '') this.machine.apply(entry);
    }
  }

  /** Snapshots when due, then lets the Ready loop take Readies again (snapshotting is set by the caller). */
  private async snapshotThen(): Promise<void> {
    try {
      await this.maybeSnapshot();
    } catch (error) {
      if (!(error instanceof StorageError && error.code === 'disk-full')) return this.fail(error);
      this.events.snapshotFailed(error);
    }
    this.snapshotting = false;
    if (this.state === 'running') this.pump();
  }

  private snapshotDue(): boolean {
    return this.appliedIndex - this.lastSnapshotIndex >= this.options.snapshotEveryEntries && this.appliedIndex <= this.memory.lastIndex();
  }

  private async maybeSnapshot(): Promise<void> {
    if (!this.snapshotDue()) return;
    const snap = this.memory.createSnapshot(this.appliedIndex, this.node.status().conf, this.machine.snapshot());
    this.lastSnapshotIndex = this.appliedIndex;
    await this.storage.saveSnapshot(snap);
    this.memory.compact(Math.max(this.memory.firstIndex() - 1, this.appliedIndex - this.options.keepEntriesAfterSnapshot));
  }
}
