// One real Raft server: the Raft core (core/raft) on the write-ahead log (adapters/storage), with a
// transport for its messages and a state machine on top, driven by the same Ready loop the simulator
// runs (sim/raft-shell.ts): take a Ready, make it durable, then send its messages, apply what is
// committed, advance; snapshot and compact every so many entries. Ticks come from a timer.
// Invariants: no message leaves before the state it depends on is durable; one Ready is in flight at
// a time, so appends reach the disk in order; a disk-full write is held and retried once the disk has
// room again (nothing is sent or acknowledged meanwhile, reads keep working); any other storage
// failure stops the server (its state on disk is then only trusted after a restart's recovery).

import { randomInt } from 'node:crypto';
import { nodeId, noBugs, RaftNode, type ConfEntryData, type Entry, type HardState, type Message, type Ready, type Role } from '../../core/raft/index.ts';
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

export type ServerState = 'running' | 'disk-full' | 'stopped' | 'failed';

export class RaftServer {
  readonly node: RaftNode;
  private readonly memory: MemoryStorage;
  private appliedIndex: number;
  private lastSnapshotIndex: number;
  private busy = false;
  /** Readies whose committed entries were applied before their write completed (see persist). */
  private readonly appliedEarly = new WeakSet<Ready>();
  private timer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private state: ServerState = 'running';
  /** Resolves when the Ready in flight (if any) is done. */
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

  /** Drive the Ready loop until it waits on the disk or has nothing to do. */
  pump(): void {
    while (!this.busy && (this.state === 'running') && this.node.hasReady()) {
      const ready = this.node.ready();
      if (ready.softState) this.machine.onRoleChange(ready.softState.role);
      // Nothing to make durable: no entries, no snapshot, and at most a new commit index (which
      // Raft can always learn again from the leader, so it is written with the next write, not
      // synced on its own: one fsync per write instead of two). Term and vote always go to disk.
      if (ready.snapshot === null && ready.entries.length === 0 && (ready.hardState === null || this.onlyCommitMoved(ready.hardState))) {
        if (ready.hardState) this.memory.setHardState(ready.hardState);
        this.finish(ready);
        if (this.snapshotDue()) {
          this.busy = true;
          this.idle = this.snapshotThen();
        }
        continue;
      }
      this.persist(ready);
    }
    if (!this.busy) this.machine.afterLoop();
  }

  private onlyCommitMoved(hard: HardState): boolean {
    const durable = this.memory.getHardState();
    return hard.term === durable.term && hard.vote === durable.vote;
  }

  private persist(ready: Ready): void {
    this.busy = true;
    // A leader's appends and heartbeats leave before its own write is durable (Raft thesis §10.2.1),
    // so its disk and its followers' work at once: the core counts the leader's own copy toward
    // commit only once advance() says it is durable, so "committed" still means durable on a
    // majority. Anything else (votes, responses, a Ready changing term or vote) waits for the disk.
    let after = ready.messages;
    const hard = ready.hardState;
    if (this.node.role() === 'leader' && (hard === null || this.onlyCommitMoved(hard))) {
      const early = ready.messages.filter((m) => m.type === 'app' || m.type === 'heartbeat');
      if (early.length > 0) {
        after = ready.messages.filter((m) => m.type !== 'app' && m.type !== 'heartbeat');
        this.send(early);
      }
    }
    // Committed entries are durable on a majority already, so they are applied (and their clients
    // answered) while this Ready's own writes go to disk, as etcd's server does; a snapshot or a
    // membership change keeps the plain order (applied once the write is done).
    if (ready.snapshot === null && ready.committed.length > 0 && !this.appliedEarly.has(ready) && ready.committed.every((e) => e.type !== 'conf')) {
      this.appliedEarly.add(ready);
      this.applyCommitted(ready);
      this.machine.afterLoop();
    }
    this.idle = this.storage.append({ entries: ready.entries, hardState: ready.hardState, snapshot: ready.snapshot }).then(
      async () => {
        if (ready.snapshot) this.memory.applySnapshot(ready.snapshot);
        this.memory.append(ready.entries);
        if (ready.hardState) this.memory.setHardState(ready.hardState);
        this.finish(ready, after);
        await this.snapshotThen();
      },
      (error: unknown) => this.onStorageError(ready, error),
    );
  }

  private onStorageError(ready: Ready, error: unknown): void {
    if (error instanceof StorageError && error.code === 'disk-full' && this.state === 'running') {
      // Nothing of this Ready was written: hold it, and write it again once there is room.
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
        this.persist(ready);
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

  private finish(ready: Ready, messages: readonly Message[] = ready.messages): void {
    if (messages.length > 0) this.send(messages);
    if (ready.snapshot) {
      this.machine.restore(ready.snapshot.data);
      this.appliedIndex = ready.snapshot.meta.index;
      this.lastSnapshotIndex = ready.snapshot.meta.index;
    }
    if (!this.appliedEarly.has(ready)) this.applyCommitted(ready);
    this.node.advance(ready);
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

  /** Snapshots when due, then lets the Ready loop go on (busy is set by the caller). */
  private async snapshotThen(): Promise<void> {
    try {
      await this.maybeSnapshot();
    } catch (error) {
      if (!(error instanceof StorageError && error.code === 'disk-full')) return this.fail(error);
      this.events.snapshotFailed(error);
    }
    this.busy = false;
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
