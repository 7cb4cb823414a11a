// One simulated server: the Raft core composed with simulated ports (disk, network, clock) and the
// key-value state machine. It runs the Ready loop exactly as the real daemon must: persist the Ready
// to disk, wait for the sync, then send its messages, apply committed entries, answer clients, and
// advance. Invariant: no message leaves before the state it depends on is durable (unless the
// planted bug lost-unsynced-ack is on); a crash keeps only what the disk synced.

import { KvStore, parseKvCommand, type KvCommand } from '../core/kv/kv.ts';
import { emptyHardState, MemoryStorage, RaftNode, type HardState, type ConfState, type Entry, type Message, type NodeId, type RaftBugs, type Ready } from '../core/raft/index.ts';
import type { SimDisk, SyncToken } from './disk.ts';
import type { ClientReply, ClientRequest, DiskRecord, DurableView, LogView, SimObserver } from './protocol.ts';
import type { Rng } from './rng.ts';

export interface HostEnv {
  nowUs(): number;
  send(message: Message): void;
  reply(client: number, reply: ClientReply): void;
  scheduleSync(host: SimHost, token: SyncToken): void;
  readonly observer: SimObserver;
}

export interface HostConfig {
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
  /** Planted bug read-before-apply: answer a read as soon as its ReadIndex is confirmed. */
  readonly readBeforeApply: boolean;
}

interface PendingWrite {
  readonly request: ClientRequest;
  readonly term: number;
}

/** Bound on client requests a node holds at once; beyond it, requests are refused (load shedding). */
const maxPendingRequests = 1024;
/**
 * Every node applies the same immutable entry objects (the simulated network shares them), so a
 * command is parsed once for the whole cluster. A cache hit never changes a result.
 */
const parsedCommands = new WeakMap<Entry, KvCommand>();

/** How long a node waits before retrying a write its full disk refused. */
const diskFullRetryUs = 10_000;

export class SimHost {
  up = false;
  paused = false;
  /** Increments at every crash, so events from an earlier life are ignored. */
  epoch = 0;
  node!: RaftNode;
  storage!: MemoryStorage;
  kv!: KvStore;
  private inflight: { ready: Ready; token: SyncToken; sent: boolean } | null = null;
  private pendingWrites = new Map<number, PendingWrite>();
  private pendingReads = new Map<string, ClientRequest>();
  private readsWaiting: { index: number; request: ClientRequest }[] = [];
  private readSeq = 0;
  private appliedIndex = 0;
  private lastSnapshotIndex = 0;
  private life = 0;
  private commitSeen = 0;
  private readonly logView: LogView = ((host: SimHost): LogView => ({
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
    private readonly config: HostConfig,
    private readonly env: HostEnv,
  ) {}

  /** First start of a member of the initial configuration. */
  bootstrap(conf: ConfState): void {
    // Written like a snapshot file: to a temporary file, fsynced, renamed; durable at once.
    this.disk.rewrite([{ type: 'bootstrap', conf }], this.env.nowUs());
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
    this.kv = KvStore.restore(snap.data);
    this.appliedIndex = snap.meta.index;
    this.lastSnapshotIndex = snap.meta.index;
    this.life++;
    const random = this.rng.child(`raft/life-${this.life}`);
    this.node = new RaftNode(
      {
        id: this.id,
        random: () => random.float(),
        applied: snap.meta.index,
        electionTicks: this.config.electionTicks,
        maxMsgBytes: this.config.maxMsgBytes,
        maxInflightMsgs: this.config.maxInflightMsgs,
        preVote: this.config.preVote,
        checkQuorum: this.config.checkQuorum,
        snapshotChunkBytes: this.config.snapshotChunkBytes,
        bugs: this.config.raftBugs,
      },
      storage,
    );
    this.up = true;
    this.paused = false;
    this.commitSeen = this.node.commitIndex();
    this.env.observer.onRestart(this.id, storage.getHardState(), this.env.nowUs());
  }

  crash(): void {
    this.up = false;
    this.paused = false;
    this.epoch++;
    this.inflight = null;
    this.pendingWrites.clear();
    this.pendingReads.clear();
    this.readsWaiting = [];
    this.disk.crash();
  }

  tick(): void {
    this.expireRequests();
    this.node.tick();
    this.afterStep();
  }

  /**
   * Forget requests whose client has given up (its deadline passed): their answers (a read lost in
   * transit, a write covered by a snapshot from the leader) may never come, and their slots would
   * otherwise count against maxPendingRequests for ever. No reply: nobody is waiting.
   */
  private expireRequests(): void {
    const now = this.env.nowUs();
    for (const [context, req] of this.pendingReads) if (req.deadlineUs < now) this.pendingReads.delete(context);
    for (const [index, pending] of this.pendingWrites) if (pending.request.deadlineUs < now) this.pendingWrites.delete(index);
    if (this.readsWaiting.some((w) => w.request.deadlineUs < now)) this.readsWaiting = this.readsWaiting.filter((w) => w.request.deadlineUs >= now);
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

  private afterStep(): void {
    const commit = this.node.commitIndex();
    if (commit !== this.commitSeen) {
      if (commit > this.commitSeen && this.node.role() === 'leader') {
        this.env.observer.onLeaderCommit(this.id, this.node.term(), commit, this.logView, this.env.nowUs());
      }
      this.commitSeen = commit;
    }
    this.pump();
  }

  private send(message: Message): void {
    (this.durable as { hardState: HardState }).hardState = this.storage.getHardState();
    (this.durable as { lastIndex: number }).lastIndex = this.storage.lastIndex();
    this.env.observer.onSend(this.id, message, this.durable, this.env.nowUs());
    this.env.send(message);
  }

  request(req: ClientRequest): void {
    if (this.pendingWrites.size + this.pendingReads.size + this.readsWaiting.length >= maxPendingRequests) {
      this.env.reply(req.client, { id: req.id, outcome: 'fail', reason: `overloaded: ${maxPendingRequests} requests pending`, leader: this.node.status().leader });
      return;
    }
    if (req.op === 'get') {
      const context = `${this.id}/${this.life}/${++this.readSeq}`;
      this.pendingReads.set(context, req);
      this.node.readIndex(context);
    } else {
      const command = req.op === 'put' ? { op: 'put', key: req.key, value: req.value } : req.op === 'delete' ? { op: 'delete', key: req.key } : { op: 'cas', key: req.key, expected: req.expected, value: req.value };
      const result = this.node.propose(JSON.stringify(command));
      if (result.ok) this.pendingWrites.set(result.index, { request: req, term: result.term });
      else this.env.reply(req.client, { id: req.id, outcome: 'fail', reason: result.message, leader: result.code === 'not-leader' ? result.leader : null });
    }
    this.afterStep();
  }

  /** Drive the Ready loop until it waits on the disk or has nothing to do. */
  pump(): void {
    while (this.up && this.inflight === null && this.node.hasReady()) {
      const ready = this.node.ready();
      if (ready.softState) {
        const status = this.node.status();
        this.env.observer.onSoftState(this.id, ready.softState.role, status.term, this.env.nowUs(), this.logView);
        if (ready.softState.role !== 'leader') this.failPendingReads('leadership changed');
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
    if (!this.disk.append(record, this.env.nowUs())) {
      // Nothing was written, so nothing may be sent or acknowledged: hold the Ready and retry.
      this.inflight = { ready, token: { doneAtUs: this.env.nowUs() + diskFullRetryUs, upto: -1, epoch: -1 }, sent: false };
      this.env.scheduleSync(this, this.inflight.token);
      return;
    }
    const token = this.disk.beginSync(this.env.nowUs());
    const sent = this.config.ackBeforeSync;
    if (sent) for (const m of ready.messages) this.send(m);
    this.inflight = { ready, token, sent };
    this.env.scheduleSync(this, token);
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
    if (!this.disk.completeSync(token, this.env.nowUs())) return;
    this.inflight = null;
    const ready = inflight.ready;
    if (ready.snapshot) this.storage.applySnapshot(ready.snapshot);
    this.storage.append(ready.entries);
    if (ready.hardState) {
      this.storage.setHardState(ready.hardState);
      this.env.observer.onHardStateSynced(this.id, ready.hardState, this.env.nowUs());
    }
    this.finish(ready, inflight.sent);
    this.pump();
  }

  private finish(ready: Ready, alreadySent: boolean): void {
    if (!alreadySent) for (const m of ready.messages) this.send(m);
    if (ready.snapshot) this.installSnapshot(ready.snapshot.data, ready.snapshot.meta.index, ready.snapshot.meta.term);
    for (const entry of ready.committed) this.apply(entry);
    for (const rs of ready.readStates) {
      const req = this.pendingReads.get(rs.context);
      if (!req) continue;
      this.pendingReads.delete(rs.context);
      this.readsWaiting.push({ index: this.config.readBeforeApply ? 0 : rs.index, request: req });
    }
    for (const context of ready.readsRejected) {
      const req = this.pendingReads.get(context);
      if (!req) continue;
      this.pendingReads.delete(context);
      this.env.reply(req.client, { id: req.id, outcome: 'fail', reason: 'read refused: no confirmed leader', leader: this.node.status().leader });
    }
    this.serveReads();
    this.node.advance(ready);
    this.maybeCompact();
  }

  private installSnapshot(data: string, index: number, term: number): void {
    this.kv = KvStore.restore(data);
    this.appliedIndex = index;
    this.lastSnapshotIndex = index;
    this.env.observer.onSnapshotApplied(this.id, index, term, this.env.nowUs());
  }

  private apply(entry: Entry): void {
    this.env.observer.onApply(this.id, entry, this.env.nowUs());
    this.appliedIndex = entry.index;
    if (entry.type === 'conf') {
      this.node.applyConfEntry(entry);
    } else if (entry.data !== '') {
      let command = parsedCommands.get(entry);
      if (command === undefined) {
        command = parseKvCommand(entry.data);
        parsedCommands.set(entry, command);
      }
      const result = this.kv.apply(command);
      const pending = this.pendingWrites.get(entry.index);
      if (pending) {
        this.pendingWrites.delete(entry.index);
        const { request } = pending;
        if (pending.term !== entry.term) {
          this.env.reply(request.client, { id: request.id, outcome: 'fail', reason: `entry ${entry.index} was overwritten by term ${entry.term}`, leader: this.node.status().leader });
        } else if (result.ok) {
          this.env.observer.onWriteAcked(this.id, entry.index, entry.term, this.env.nowUs());
          this.env.reply(request.client, { id: request.id, outcome: 'ok', value: null });
        } else {
          this.env.reply(request.client, { id: request.id, outcome: 'fail', reason: `cas: current value is ${JSON.stringify(result.current)}`, leader: this.node.status().leader });
        }
      }
    }
  }

  private serveReads(): void {
    if (this.readsWaiting.length === 0) return;
    const still: { index: number; request: ClientRequest }[] = [];
    for (const w of this.readsWaiting) {
      if (w.index <= this.appliedIndex) this.env.reply(w.request.client, { id: w.request.id, outcome: 'ok', value: this.kv.get(w.request.key) });
      else still.push(w);
    }
    this.readsWaiting = still;
  }

  private failPendingReads(reason: string): void {
    // Reads waiting for a ReadIndex that will never come (the leader stepped down) fail now;
    // reads that already have their index stay valid and are served once applied.
    const leader = this.node.status().leader;
    for (const [context, req] of [...this.pendingReads.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!context.startsWith(`${this.id}/`)) continue;
      this.pendingReads.delete(context);
      this.env.reply(req.client, { id: req.id, outcome: 'fail', reason, leader });
    }
  }

  private maybeCompact(): void {
    if (this.inflight !== null) return;
    const status = this.node.status();
    if (this.appliedIndex - this.lastSnapshotIndex < this.config.snapshotEveryEntries) return;
    if (this.appliedIndex > this.storage.lastIndex()) return;
    const snap = this.storage.createSnapshot(this.appliedIndex, status.conf, this.kv.snapshot());
    this.lastSnapshotIndex = this.appliedIndex;
    const compactTo = Math.max(this.storage.firstIndex() - 1, this.appliedIndex - this.config.keepEntriesAfterSnapshot);
    this.storage.compact(compactTo);
    // Atomic rewrite: the snapshot, the entries kept after the compaction point, and the hard state.
    const entries = this.storage.lastIndex() >= this.storage.firstIndex() ? this.storage.entries(this.storage.firstIndex(), this.storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER) : [];
    this.disk.rewrite([{ type: 'ready', snapshot: snap, entries, hardState: this.storage.getHardState() }], this.env.nowUs());
  }

  appliedTo(): number {
    return this.appliedIndex;
  }
}
