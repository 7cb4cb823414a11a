// A simulated key-value server: the Raft shell (raft-shell.ts) with the key-value state machine on
// top, serving clients: writes are proposed and answered once applied (or failed when their entry is
// overwritten), reads go through ReadIndex and are answered once the state machine has applied the
// read index. Bounded: at most maxPendingRequests requests at once, the rest refused (load shedding).

import { KvStore, parseKvCommand, type KvCommand } from '../core/kv/kv.ts';
import type { Entry, NodeId, Ready, Role } from '../core/raft/index.ts';
import type { SimDisk } from './disk.ts';
import type { ClientReply, ClientRequest, DiskRecord } from './protocol.ts';
import { RaftShell, type ShellConfig, type ShellEnv } from './raft-shell.ts';
import type { Rng } from './rng.ts';

export interface HostEnv extends ShellEnv {
  reply(client: number, reply: ClientReply): void;
}

export interface HostConfig extends ShellConfig {
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

export class SimHost extends RaftShell {
  kv = new KvStore();
  private pendingWrites = new Map<number, PendingWrite>();
  private pendingReads = new Map<string, ClientRequest>();
  private readsWaiting: { index: number; request: ClientRequest }[] = [];
  private readSeq = 0;

  constructor(id: NodeId, disk: SimDisk<DiskRecord>, rng: Rng, private readonly config: HostConfig, private readonly env: HostEnv) {
    super(id, disk, rng, config, env);
  }

  protected restoreState(data: string): void {
    this.kv = KvStore.restore(data);
  }

  protected snapshotState(): string {
    return this.kv.snapshot();
  }

  protected override onCrash(): void {
    this.pendingWrites.clear();
    this.pendingReads.clear();
    this.readsWaiting = [];
  }

  protected override onTick(): void {
    this.expireRequests();
  }

  protected override onRoleChange(role: Role): void {
    if (role !== 'leader') this.failPendingReads('leadership changed');
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

  protected override afterApply(ready: Ready): void {
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
  }

  protected applyCommand(entry: Entry): void {
    let command = parsedCommands.get(entry);
    if (command === undefined) {
      command = parseKvCommand(entry.data);
      parsedCommands.set(entry, command);
    }
    const result = this.kv.apply(command);
    const pending = this.pendingWrites.get(entry.index);
    if (!pending) return;
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
}
