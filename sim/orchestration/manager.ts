// A simulated manager: the Raft shell (../raft-shell.ts) with the cluster store (core/state) as its
// state machine, answering the proposals made through it once their entry is applied, and, while it
// leads, running the reconciler (core/reconciler) every few ticks and proposing what it decides.
// Invariants: a proposal's answer is its entry's ApplyResult only when the entry applied at its index
// has the term it was proposed in; a leader reconciles only on a store that includes every entry
// committed before its term (it has applied an entry of its own term) and the effects of its own
// previous pass (none of its reconciler proposals is pending), so a slot is never filled twice.
// Callbacks never run inside the Ready loop: answers found while applying are delivered after it.

import { AdmissionLimiter, defaultAdmissionConfig, validateAdmissionConfig, type AdmissionConfig } from '../../core/admission/admission.ts';
import type { Entry, NodeId, Role } from '../../core/raft/index.ts';
import { defaultReconcilerConfig, LeaderTaskCache, reconcile, validateReconcilerConfig, type ReconcilerConfig } from '../../core/reconciler/index.ts';
import { ClusterState, decodeCommand, encodeCommand, restore, snapshot, type ApplyResult, type StateCommand } from '../../core/state/index.ts';
import type { SimDisk } from '../disk.ts';
import type { DiskRecord } from '../protocol.ts';
import { RaftShell, type ShellConfig, type ShellEnv } from '../raft-shell.ts';
import type { Rng } from '../rng.ts';

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

interface PendingProposal {
  readonly term: number;
  readonly onDone: ProposeCallback;
  readonly fromReconciler: boolean;
}

/**
 * Checks on a manager's work, installed by the world (the chaos checkers); they throw to stop the
 * run. Neither may change anything.
 */
export interface ManagerWatch {
  /** The command of entry `index` was applied to this manager's store; `result` says if it took effect. */
  applied(host: ManagerHost, index: number, command: StateCommand, result: ApplyResult): void;
  /** A reconcile pass of this leader decided `commands` on its store as it is now (before proposing them). */
  reconciled(host: ManagerHost, commands: readonly StateCommand[]): void;
}

const okOutcome: ProposeOutcome = { ok: true };
const idDrawMax = 0xff_ffff; // 24 bits, six hex digits per draw

export class ManagerHost extends RaftShell {
  state = new ClusterState();
  /** Reconcile passes run, commands they proposed, and those refused (at propose or at apply). */
  reconcilePasses = 0;
  reconcileCommandsProposed = 0;
  reconcileCommandsRefused = 0;
  watch: ManagerWatch | null = null;
  private readonly config: ManagerConfig;
  private readonly pending = new Map<number, PendingProposal>();
  private reconcilerPending = 0;
  /** Answers found inside the Ready loop, delivered once it has finished. */
  private readonly answers: (() => void)[] = [];
  /** When the leader last heard from each node: leader-only memory, never in the log. */
  private readonly heartbeats = new Map<NodeId, number>();
  /** The term this node was last seen leading in, or null when it was not leading. */
  private leaderTerm: number | null = null;
  private leaderSinceUs = 0;
  private ticksSinceReconcile = 0;
  private ids: Rng | null = null;
  private readonly idRoot: Rng;
  /** Planted bug forgetTaskOnFailover only: the leader's task cache, primed when it takes over. */
  private taskCache: LeaderTaskCache | null = null;
  /** Client requests admitted and shed: process memory, reset by a crash. */
  private readonly admission: AdmissionLimiter;

  constructor(
    id: NodeId,
    disk: SimDisk<DiskRecord>,
    rng: Rng,
    shellConfig: ShellConfig,
    private readonly env: ShellEnv,
    config: ManagerConfig = defaultManagerConfig,
  ) {
    super(id, disk, rng, shellConfig, env);
    this.config = validateManagerConfig(config);
    this.idRoot = rng.child('manager/ids');
    this.admission = new AdmissionLimiter(this.config.admission);
  }

  protected restoreState(data: string): void {
    const bugs = this.config.reconciler.bugs;
    this.state = data === '' ? new ClusterState(undefined, bugs) : restore(data, bugs);
  }

  protected snapshotState(): string {
    return snapshot(this.state);
  }

  protected applyCommand(entry: Entry): void {
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

  protected override onCrash(): void {
    // Nobody is answered: the process is gone, and its callers time out.
    this.pending.clear();
    this.reconcilerPending = 0;
    this.answers.length = 0;
    this.heartbeats.clear();
    this.leaderTerm = null;
    this.ids = null;
    this.taskCache = null;
    this.admission.reset();
  }

  protected override onRoleChange(_role: Role): void {
    this.observeLeadership();
  }

  protected override onTick(): void {
    this.observeLeadership();
    if (this.leaderTerm === null) return;
    this.ticksSinceReconcile++;
    if (this.ticksSinceReconcile < this.config.reconcileEveryTicks) return;
    if (this.reconcilerPending > 0 || !this.caughtUp()) return;
    this.ticksSinceReconcile = 0;
    this.reconcilePass();
  }

  override pump(): void {
    super.pump();
    this.deliverAnswers();
  }

  /**
   * Propose `command`; `onDone` is called once with the outcome: at once when the local store
   * refuses it, this node does not lead, or too many proposals are pending; otherwise when its
   * entry is applied here (or when this node stops leading first).
   */
  propose(command: StateCommand, onDone: ProposeCallback): void {
    if (!this.up) {
      onDone({ ok: false, error: `manager ${this.id} is down`, code: 'unavailable', leader: null });
      return;
    }
    this.observeLeadership();
    this.submit(command, onDone, false);
    this.afterStep();
  }

  /**
   * A client's request (the API's path, as against the cluster's own traffic): refused at once
   * when this node does not lead, and shed with code 'overloaded' and a retry hint when it is over
   * its admission limits; otherwise proposed like any other. A shed request changes nothing.
   */
  proposeClient(command: StateCommand, onDone: ProposeCallback): void {
    if (!this.up) {
      onDone({ ok: false, error: `manager ${this.id} is down`, code: 'unavailable', leader: null });
      return;
    }
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
    this.afterStep();
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
    if (!this.up) return false;
    this.observeLeadership();
    this.deliverAnswers(); // a leadership just seen lost answers its proposals
    if (this.leaderTerm === null || this.state.node(node) === null) return false;
    this.heartbeats.set(node, Math.max(this.heartbeats.get(node) ?? atUs, atUs));
    return true;
  }

  isLeader(): boolean {
    return this.up && this.leaderTerm !== null;
  }

  pendingProposals(): number {
    return this.pending.size;
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

  /**
   * Compare what Raft says now with the leadership last seen. Any change (lost, won, or a new term
   * as leader between two observations) ends the old leadership: its pending proposals fail with
   * an unknown outcome and its heartbeat memory is dropped.
   */
  private observeLeadership(): void {
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
    this.ids = term === null ? null : this.idRoot.child(`term-${term}`);
    // Planted bug forgetTaskOnFailover: the cache is primed now, before this store holds the
    // entries of the previous term that this leader has yet to commit and apply.
    this.taskCache = term !== null && this.config.reconciler.bugs.forgetTaskOnFailover ? new LeaderTaskCache(this.state.tasks()) : null;
  }

  /** The leader has applied an entry of its own term, so its store holds all earlier commits. */
  private caughtUp(): boolean {
    return this.node.termAt(this.appliedIndex) === this.node.term();
  }

  private reconcilePass(): void {
    const ids = this.ids!;
    const commands = reconcile(this.state, {
      nowUs: this.env.nowUs(),
      newId: (prefix) => `${prefix}-${hexDraw(ids)}${hexDraw(ids)}`,
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

  private deliverAnswers(): void {
    while (this.answers.length > 0) this.answers.shift()!();
  }

  private failure(code: string, error: string): ProposeOutcome {
    return { ok: false, error, code, leader: this.node.status().leader };
  }
}

const hexDraw = (rng: Rng): string => rng.int(0, idDrawMax).toString(16).padStart(6, '0');
