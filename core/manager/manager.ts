// A manager's control logic beside its Raft node, the same in the simulator and in the daemon: the
// cluster store (core/state) as the Raft state machine, proposals answered once their entry is
// applied, client requests through admission control, and, while this node leads, the reconciler
// (core/reconciler) run every few ticks with its decisions proposed through Raft. The shell around it
// (sim/orchestration/manager.ts, the daemon in adapters/) owns the Ready loop, the disk and the
// network: it calls apply() for each committed entry, tick() on each Raft tick, and
// deliverAnswers() once its Ready loop has finished.
// Invariants: a proposal's answer is its entry's ApplyResult only when the entry applied at its
// index has the term it was proposed in; a leader reconciles only on a store that includes every
// entry committed before its term (it has applied an entry of its own term) and the effects of its
// own previous pass (none of its reconciler proposals is pending), so a slot is never filled twice.
// Callbacks never run inside the Ready loop: answers found while applying wait for deliverAnswers().
// Deterministic: time and ids come from the injected environment.

import { AdmissionLimiter, defaultAdmissionConfig, validateAdmissionConfig, type AdmissionConfig } from '../admission/admission.ts';
import type { Entry, NodeId, RaftNode } from '../raft/index.ts';
import { defaultReconcilerConfig, LeaderTaskCache, reconcile, validateReconcilerConfig, type ReconcilerConfig } from '../reconciler/index.ts';
import { ClusterState, decodeCommand, encodeCommand, restore, snapshot, type ApplyResult, type StateCommand } from '../state/index.ts';

export interface ManagerConfig {
  /** The leader runs a reconcile pass at most once every this many ticks. */
  readonly reconcileEveryTicks: number;
  /** Bound on proposals awaiting their entry's application; beyond it, proposals are refused. */
  readonly maxPendingProposals: number;
  /** Limits on client requests (proposeClient): beyond them, requests are shed as overloaded. */
  readonly admission: AdmissionConfig;
  readonly reconciler: ReconcilerConfig;
}

export const defaultManagerConfig: ManagerConfig = {
  reconcileEveryTicks: 1,
  maxPendingProposals: 4096,
  admission: defaultAdmissionConfig,
  reconciler: defaultReconcilerConfig,
};

export function validateManagerConfig(config: ManagerConfig): ManagerConfig {
  for (const key of ['reconcileEveryTicks', 'maxPendingProposals'] as const) {
    const v = config[key];
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`manager ${key} must be a positive integer, got ${String(v)}`);
  }
  validateReconcilerConfig(config.reconciler);
  validateAdmissionConfig(config.admission);
  return config;
}

/**
 * The answer to a proposal. A failure with code 'leadership-lost' (or a crash, which answers
 * nothing) leaves the outcome unknown: the entry may still commit. Every other failure is certain.
 */
export type ProposeOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: string; readonly code: string; readonly leader: NodeId | null; readonly retryAfterUs?: number };

export type ProposeCallback = (result: ProposeOutcome) => void;

/** Checks on a manager's work (the chaos checkers install them); they throw to stop a run and change nothing. */
export interface ManagerWatch {
  /** The command of entry `index` was applied to this manager's store; `result` says if it took effect. */
  applied(manager: Manager, index: number, command: StateCommand, result: ApplyResult): void;
  /** A reconcile pass of this leader decided `commands` on its store as it is now (before proposing them). */
  reconciled(manager: Manager, commands: readonly StateCommand[]): void;
}

export interface ManagerEnv {
  nowUs(): number;
  /** The index of the last entry the shell applied (through apply() or a snapshot). */
  appliedIndex(): number;
  /** A fresh source of unique id suffixes for one term of leadership. */
  idSource(term: number): () => string;
}

interface PendingProposal {
  readonly term: number;
  readonly onDone: ProposeCallback;
  readonly fromReconciler: boolean;
}

const okOutcome: ProposeOutcome = { ok: true };

export class Manager {
  state: ClusterState;
  /** Reconcile passes run, commands they proposed, and those refused (at propose or at apply). */
  reconcilePasses = 0;
  reconcileCommandsProposed = 0;
  reconcileCommandsRefused = 0;
  watch: ManagerWatch | null = null;
  readonly config: ManagerConfig;
  private readonly pending = new Map<number, PendingProposal>();
  private reconcilerPending = 0;
  /** Answers found inside the Ready loop, delivered by deliverAnswers(). */
  private readonly answers: (() => void)[] = [];
  /** When the leader last heard from each node: leader-only memory, never in the log. */
  private readonly heartbeats = new Map<NodeId, number>();
  /** The term this node was last seen leading in, or null when it was not leading. */
  private leaderTerm: number | null = null;
  private leaderSinceUs = 0;
  private ticksSinceReconcile = 0;
  private nextId: (() => string) | null = null;
  /** Planted bug forgetTaskOnFailover only: the leader's task cache, primed when it takes over. */
  private taskCache: LeaderTaskCache | null = null;
  private readonly admission: AdmissionLimiter;

  /** `raft` gives the node's current Raft instance (a restarted process has a new one). */
  constructor(
    readonly id: NodeId,
    private readonly raft: () => RaftNode,
    private readonly env: ManagerEnv,
    config: ManagerConfig = defaultManagerConfig,
  ) {
    this.config = validateManagerConfig(config);
    this.admission = new AdmissionLimiter(this.config.admission);
    this.state = new ClusterState(undefined, this.config.reconciler.bugs);
  }

  private get node(): RaftNode {
    return this.raft();
  }

  /** The Raft term this node is in. */
  term(): number {
    return this.node.term();
  }

  /** The store from a snapshot's data ('' for an empty store). */
  restoreState(data: string): void {
    const bugs = this.config.reconciler.bugs;
    this.state = data === '' ? new ClusterState(undefined, bugs) : restore(data, bugs);
  }

  snapshotState(): string {
    return snapshot(this.state);
  }

  /** Apply a committed command entry; its proposal's answer waits for deliverAnswers(). */
  apply(entry: Entry): void {
    const command = decodeCommand(entry.data);
    const result = this.state.apply(command);
    this.watch?.applied(this, entry.index, command, result);
    const pending = this.pending.get(entry.index);
    if (pending === undefined) return;
    this.forget(entry.index, pending);
    let outcome: ProposeOutcome;
    if (pending.term !== entry.term) outcome = this.failure('overwritten', `entry ${entry.index} of term ${pending.term} was overwritten by term ${entry.term}`);
    else if (result.ok) outcome = okOutcome;
    else outcome = { ok: false, error: result.error.message, code: result.error.code, leader: null };
    if (!outcome.ok && pending.fromReconciler) this.reconcileCommandsRefused++;
    this.answers.push(() => pending.onDone(outcome));
  }

  /** The process died: nobody is answered (its callers time out) and leader memory is gone. */
  reset(): void {
    this.pending.clear();
    this.reconcilerPending = 0;
    this.answers.length = 0;
    this.heartbeats.clear();
    this.leaderTerm = null;
    this.nextId = null;
    this.taskCache = null;
    this.admission.reset();
  }

  /** One Raft tick went by: notice leadership changes, and reconcile when it is time. */
  tick(): void {
    this.observeLeadership();
    if (this.leaderTerm === null) return;
    this.ticksSinceReconcile++;
    if (this.ticksSinceReconcile < this.config.reconcileEveryTicks) return;
    if (this.reconcilerPending > 0 || !this.caughtUp()) return;
    this.ticksSinceReconcile = 0;
    this.reconcilePass();
  }

  /**
   * Propose `command`; `onDone` is called once with the outcome: at once when the local store
   * refuses it, this node does not lead, or too many proposals are pending; otherwise when its
   * entry is applied here (or when this node stops leading first). The shell runs its Ready loop after.
   */
  propose(command: StateCommand, onDone: ProposeCallback): void {
    this.observeLeadership();
    this.submit(command, onDone, false);
  }

  /**
   * A client's request (the API's path, as against the cluster's own traffic): refused at once
   * when this node does not lead, and shed with code 'overloaded' and a retry hint when it is over
   * its admission limits; otherwise proposed like any other. A shed request changes nothing.
   */
  proposeClient(command: StateCommand, onDone: ProposeCallback): void {
    this.observeLeadership();
    if (this.leaderTerm === null) {
      onDone(this.failure('not-leader', `manager ${this.id} does not lead; send the request to the leader`));
      return;
    }
    const admission = this.admission.admit(this.env.nowUs());
    if (!admission.ok) {
      const ms = (admission.retryAfterUs / 1000).toFixed(1);
      const error = `manager ${this.id} is overloaded: ${admission.message}; retry after ${ms} ms`;
      onDone({ ok: false, error, code: 'overloaded', leader: this.node.status().leader, retryAfterUs: admission.retryAfterUs });
      return;
    }
    this.submit(command, (outcome) => {
      this.admission.release();
      onDone(outcome);
    }, false);
  }

  /** Client requests this manager admitted and shed since it started. */
  admissionCounts(): { readonly admitted: number; readonly shed: number } {
    return { admitted: this.admission.admitted, shed: this.admission.shed };
  }

  /**
   * The leader heard from `node` at `atUs` (a worker's heartbeat). Kept only while this node leads
   * and only for nodes in the store, which bounds the map. True when recorded.
   */
  recordHeartbeat(node: NodeId, atUs: number): boolean {
    this.observeLeadership();
    this.deliverAnswers(); // a leadership just seen lost answers its proposals
    if (this.leaderTerm === null || this.state.node(node) === null) return false;
    this.heartbeats.set(node, Math.max(this.heartbeats.get(node) ?? atUs, atUs));
    return true;
  }

  isLeader(): boolean {
    return this.leaderTerm !== null;
  }

  pendingProposals(): number {
    return this.pending.size;
  }

  /**
   * Calls the answers found so far, oldest first, at most `max` of them (a shell may spread a large
   * batch over several turns of its event loop); returns how many are still waiting.
   */
  deliverAnswers(max = Infinity): number {
    for (let n = 0; n < max && this.answers.length > 0; n++) this.answers.shift()!();
    return this.answers.length;
  }

  /**
   * Compare what Raft says now with the leadership last seen. Any change (lost, won, or a new term
   * as leader between two observations) ends the old leadership: its pending proposals fail with
   * an unknown outcome and its heartbeat memory is dropped.
   */
  observeLeadership(): void {
    const term = this.node.role() === 'leader' ? this.node.term() : null;
    if (term === this.leaderTerm) return;
    const lost = [...this.pending.entries()].sort(([a], [b]) => a - b);
    this.pending.clear();
    this.reconcilerPending = 0;
    const outcome = this.failure('leadership-lost', `leadership lost: ${this.id} no longer leads term ${this.leaderTerm ?? term}; the proposal may or may not be applied`);
    for (const [, pending] of lost) this.answers.push(() => pending.onDone(outcome));
    this.heartbeats.clear();
    this.leaderTerm = term;
    this.ticksSinceReconcile = 0;
    this.leaderSinceUs = this.env.nowUs();
    this.nextId = term === null ? null : this.env.idSource(term);
    // Planted bug forgetTaskOnFailover: the cache is primed now, before this store holds the
    // entries of the previous term that this leader has yet to commit and apply.
    this.taskCache = term !== null && this.config.reconciler.bugs.forgetTaskOnFailover ? new LeaderTaskCache(this.state.tasks()) : null;
  }

  private submit(command: StateCommand, onDone: ProposeCallback, fromReconciler: boolean): boolean {
    const refused = (outcome: ProposeOutcome): false => {
      if (fromReconciler) this.reconcileCommandsRefused++;
      onDone(outcome);
      return false;
    };
    const invalid = this.state.validate(command);
    if (invalid !== null) return refused({ ok: false, error: invalid.message, code: invalid.code, leader: null });
    if (this.pending.size >= this.config.maxPendingProposals) {
      return refused(this.failure('overloaded', `overloaded: ${this.config.maxPendingProposals} proposals pending; retry later`));
    }
    const result = this.node.propose(encodeCommand(command));
    if (!result.ok) return refused({ ok: false, error: result.message, code: result.code, leader: result.code === 'not-leader' ? result.leader : null });
    this.pending.set(result.index, { term: result.term, onDone, fromReconciler });
    if (fromReconciler) this.reconcilerPending++;
    return true;
  }

  private forget(index: number, pending: PendingProposal): void {
    this.pending.delete(index);
    if (pending.fromReconciler) this.reconcilerPending--;
  }

  /** The leader has applied an entry of its own term, so its store holds all earlier commits. */
  private caughtUp(): boolean {
    return this.node.termAt(this.env.appliedIndex()) === this.node.term();
  }

  private reconcilePass(): void {
    const nextId = this.nextId!;
    const commands = reconcile(this.state, {
      nowUs: this.env.nowUs(),
      newId: (prefix) => `${prefix}-${nextId()}`,
      lastSeenUs: (node) => this.heartbeats.get(node),
      leaderSinceUs: this.leaderSinceUs,
      config: this.config.reconciler,
      ...(this.taskCache === null ? {} : { taskCache: this.taskCache }),
    });
    this.reconcilePasses++;
    this.watch?.reconciled(this, commands);
    for (const command of commands) {
      if (this.submit(command, () => {}, true)) this.reconcileCommandsProposed++;
    }
  }

  private failure(code: string, error: string): ProposeOutcome {
    return { ok: false, error, code, leader: this.node.status().leader };
  }
}
