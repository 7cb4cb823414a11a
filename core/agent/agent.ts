// The worker agent as a state machine (functional core): inputs are calls (assignments, runtime
// events, time, connectivity, the runtime's inventory after a restart); outputs are plain data the
// shell takes (runtime actions to perform in order, task reports for the managers).
// Invariants:
// - at most one lifecycle action (pull/create/start/stop/remove) and one probe in flight per task,
//   so pending actions never exceed two per tracked record;
// - a container is created for a task only when the task holds none (after its removal, or never);
// - probes go only to a task whose container the agent saw start and not yet exit;
// - while connected, failures are reported and never restarted here (the managers replace the
//   task); while disconnected, the task's restart policy is applied locally to the same task;
// - iteration is over sorted task ids; time and randomness come in from the shell.

import { assert, assertNever } from '../assert.ts';
import type { ContainerStatus, RuntimeAction, RuntimeEvent } from '../ports.ts';
import { terminalTaskStates, type TaskId, type TaskState } from '../state/types.ts';
import { adoptContainer, converge, fail, onCreated, onExited, onProbed, onPulled, onStarted, type LifecycleContext } from './lifecycle.ts';
import { holdsNoContainer, newRecord, taskLocalStatus, wantsContainer, type TaskRecord } from './record.ts';
import { ReportQueue } from './reports.ts';
import { agentConfig, type AgentConfig, type AgentOptions, type AgentStatus, type Assignment, type TaskReport } from './types.ts';

export { isMissingImageError } from './lifecycle.ts';

const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class Agent {
  private readonly config: AgentConfig;
  private readonly records = new Map<TaskId, TaskRecord>();
  private sortedIdsCache: TaskId[] | null = null;
  /** Finished tasks no longer assigned, oldest first (bounded): a stale snapshot must not revive them. */
  private readonly retired = new Map<TaskId, true>();
  private actions: RuntimeAction[] = [];
  private readonly reports: ReportQueue;
  private connected: boolean;
  private inventoryKnown: boolean;
  private adoptCalled = false;
  private assignmentsApplied = false;
  /** Assignments received by a restarted agent before adopt(). */
  private heldAssignments: readonly Assignment[] | null = null;
  /** Containers from adopt() not yet matched against assignments. */
  private inventory: Map<TaskId, ContainerStatus> | null = null;
  private probesInFlight = 0;
  private lastNowUs = 0;
  private readonly lifecycle: LifecycleContext;

  constructor(options: AgentOptions) {
    this.config = agentConfig(options);
    this.reports = new ReportQueue(this.config.maxReportsPending);
    this.connected = this.config.connected;
    this.inventoryKnown = !this.config.restarted;
    this.lifecycle = {
      config: this.config,
      connected: () => this.connected,
      emit: (action) => this.emit(action),
      report: (r, state, exitCode, message, nowUs) => this.report(r, state, exitCode, message, nowUs),
    };
  }

  /** The full set of tasks the managers assign to this node now (a new snapshot replaces the old). */
  setAssignments(assignments: readonly Assignment[], nowUs: number): void {
    this.observe(nowUs);
    const seen = new Set<TaskId>();
    for (const a of assignments) {
      assert(a.task.nodeId === this.config.nodeId, () => `task ${a.task.id} is assigned to ${a.task.nodeId}, not to this node ${this.config.nodeId}`);
      assert(!seen.has(a.task.id), () => `task ${a.task.id} appears twice in one assignment snapshot`);
      seen.add(a.task.id);
    }
    if (!this.inventoryKnown) {
      this.heldAssignments = assignments;
      return;
    }
    this.applyAssignments(assignments, nowUs);
    this.runDue(nowUs);
  }

  onRuntimeEvent(event: RuntimeEvent, nowUs: number): void {
    this.observe(nowUs);
    const r = this.records.get(event.taskId);
    if (r === undefined) {
      // Adopted but not yet matched with assignments: keep the inventory true to the runtime;
      // otherwise an outcome for a task already cleaned up and forgotten.
      this.updateInventory(event);
      return;
    }
    switch (event.type) {
      case 'pulled': onPulled(this.lifecycle, r, event.ok, event.error, nowUs); break;
      case 'created': onCreated(this.lifecycle, r, event.ok, event.error, nowUs); break;
      case 'started': onStarted(this.lifecycle, r, event.ok, event.error, nowUs); break;
      case 'exited': onExited(this.lifecycle, r, event.exitCode, event.oomKilled, nowUs); break;
      case 'removed': if (r.phase === 'removing') r.phase = 'gone'; break;
      case 'probed':
        if (!r.probeInFlight) break; // not ours: asked by the agent process before a restart
        r.probeInFlight = false;
        this.probesInFlight--;
        onProbed(this.lifecycle, r, event.healthy, event.message, nowUs);
        break;
      default: assertNever(event, 'runtime event');
    }
    this.settle(r, nowUs);
    this.runDue(nowUs);
  }

  /** Time passes: probes come due, restart backoffs expire. Returns when it next needs a tick (or Infinity). */
  tick(nowUs: number): number {
    this.observe(nowUs);
    this.runDue(nowUs);
    return this.nextWakeUs();
  }

  /** When the agent next needs a tick, given what it knows now (Infinity: only inputs will wake it). */
  nextWakeUs(): number {
    let wake = Infinity;
    for (const id of this.sortedIds()) {
      const r = this.records.get(id)!;
      if (r.phase === 'gone' && r.restartAtUs !== null && !this.connected) wake = Math.min(wake, r.restartAtUs);
      if (this.probeEligible(r) && this.probesInFlight < this.config.maxProbesInFlight) wake = Math.min(wake, r.nextProbeAtUs);
    }
    return wake;
  }

  /**
   * After the agent process restarts: what the runtime still holds. Assigned containers are
   * adopted, the rest cleaned up, nothing duplicated. Called once, before the agent acts on any
   * assignment (construct it with `restarted: true` so it waits for this call).
   */
  adopt(containers: readonly ContainerStatus[], nowUs: number): void {
    this.observe(nowUs);
    assert(!this.adoptCalled, 'adopt() is called once, after the agent process restarts');
    assert(!this.assignmentsApplied, 'adopt() after the agent acted on assignments could duplicate containers: construct it with restarted: true');
    this.adoptCalled = true;
    this.inventoryKnown = true;
    this.inventory = new Map();
    for (const c of containers) {
      assert(!this.inventory.has(c.taskId), () => `the runtime listed task ${c.taskId} twice`);
      this.inventory.set(c.taskId, c);
    }
    const held = this.heldAssignments;
    this.heldAssignments = null;
    if (held !== null) this.applyAssignments(held, nowUs);
    this.runDue(nowUs);
  }

  setConnected(connected: boolean, nowUs: number): void {
    this.observe(nowUs);
    if (connected === this.connected) return;
    this.connected = connected;
    if (!connected) {
      this.reports.coalesce();
      return;
    }
    // Back in touch: the managers own restarts again, so pending local restarts are dropped.
    for (const id of this.sortedIds()) {
      const r = this.records.get(id)!;
      if (r.restartAtUs === null) continue;
      r.restartAtUs = null;
      r.finished = true;
      // Replaces the held failure report, whose message promised a restart.
      if (r.reported !== null) this.report(r, r.reported, r.lastExitCode, `${r.lastFailure}; not restarted: reconnected to the managers`, nowUs, true);
      this.settle(r, nowUs);
    }
    this.runDue(nowUs);
  }

  /** Runtime actions to perform, in order. */
  takeActions(): RuntimeAction[] {
    const taken = this.actions;
    this.actions = [];
    return taken;
  }

  /** Task state changes for the managers; held (latest per task) while disconnected. */
  takeReports(): TaskReport[] {
    return this.connected ? this.reports.take() : [];
  }

  status(): AgentStatus {
    return {
      nodeId: this.config.nodeId,
      connected: this.connected,
      inventoryKnown: this.inventoryKnown,
      reportsPending: this.reports.length,
      reportsDropped: this.reports.dropped,
      probesInFlight: this.probesInFlight,
      actionsPending: this.actions.length,
      tasks: this.sortedIds().map((id) => taskLocalStatus(this.records.get(id)!)),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Assignments and inventory.

  /** A container adopted after a restart changed before its assignment arrived. */
  private updateInventory(event: RuntimeEvent): void {
    const c = this.inventory?.get(event.taskId);
    if (c === undefined) return;
    if (event.type === 'exited') this.inventory!.set(event.taskId, { ...c, state: 'exited', exitCode: event.exitCode });
    else if (event.type === 'removed') this.inventory!.delete(event.taskId);
  }

  private applyAssignments(assignments: readonly Assignment[], nowUs: number): void {
    const inventory = this.inventory ?? new Map<TaskId, ContainerStatus>();
    this.inventory = null;
    this.assignmentsApplied = true;
    const next = new Map<TaskId, Assignment>(assignments.map((a) => [a.task.id, a]));
    for (const id of this.sortedIds()) {
      const r = this.records.get(id)!;
      if (r.assignment !== null && !next.has(id)) {
        r.assignment = null;
        r.shutdownRequested = true;
      }
    }
    for (const id of [...next.keys()].sort(byId)) {
      const a = next.get(id)!;
      const r = this.records.get(id);
      if (r !== undefined) this.updateAssignment(r, a);
      else if (!this.retired.has(id)) this.admit(a, inventory.get(id) ?? null, nowUs);
      inventory.delete(id);
    }
    for (const id of [...inventory.keys()].sort(byId)) {
      if (this.records.has(id)) continue;
      const orphan = newRecord(id, null, this.config.defaultStopGraceMs);
      orphan.finished = true;
      orphan.shutdownRequested = true;
      this.track(orphan);
      adoptContainer(this.lifecycle, orphan, inventory.get(id)!, nowUs);
    }
    for (const id of this.sortedIds()) this.settle(this.records.get(id)!, nowUs);
  }

  private updateAssignment(r: TaskRecord, a: Assignment): void {
    r.assignment = a;
    r.restartPolicy = a.restartPolicy;
    if (a.task.desiredState === 'shutdown') r.shutdownRequested = true;
    // The store holds the task as terminal (our failure report arrived, or the managers gave up on
    // it): a replacement exists or will, so this run must end, silently.
    if (terminalTaskStates.has(a.task.observedState) && !r.finished) {
      r.finished = true;
      r.shutdownRequested = true;
      r.restartAtUs = null;
    }
  }

  private admit(a: Assignment, container: ContainerStatus | null, nowUs: number): void {
    if (this.records.size >= this.config.maxTasks) {
      const rejected = newRecord(a.task.id, a, a.container.stopGracePeriodMs);
      this.report(rejected, 'rejected', null, `node is at capacity: the agent tracks at most ${this.config.maxTasks} tasks`, nowUs);
      this.retire(a.task.id);
      return;
    }
    const r = newRecord(a.task.id, a, a.container.stopGracePeriodMs);
    const observed = a.task.observedState;
    if (terminalTaskStates.has(observed)) {
      r.finished = true;
      r.shutdownRequested = true;
      r.reported = observed;
    }
    if (a.task.desiredState === 'shutdown') r.shutdownRequested = true;
    this.track(r);
    if (container !== null) adoptContainer(this.lifecycle, r, container, nowUs);
    else if (wantsContainer(r) && (observed === 'starting' || observed === 'running')) {
      // The managers saw it start, yet the runtime holds nothing for it.
      r.phase = 'gone';
      fail(this.lifecycle, r, 'failed', null, 'container lost', nowUs);
    }
  }

  /** Moves the task on from where it stands, then forgets it if it is finished and unassigned. */
  private settle(r: TaskRecord, nowUs: number): void {
    converge(this.lifecycle, r, nowUs);
    if (r.assignment === null && r.finished && holdsNoContainer(r) && !r.probeInFlight && r.restartAtUs === null) {
      this.records.delete(r.taskId);
      this.sortedIdsCache = null;
      this.retire(r.taskId);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Time-driven work: due probes and due restarts.

  private probeEligible(r: TaskRecord): boolean {
    return r.phase === 'running' && r.healthCheck !== null && !r.probeInFlight && wantsContainer(r);
  }

  private runDue(nowUs: number): void {
    for (const id of this.sortedIds()) {
      const r = this.records.get(id);
      if (r === undefined) continue;
      if (r.phase === 'gone' && r.restartAtUs !== null && r.restartAtUs <= nowUs) this.settle(r, nowUs);
      if (this.probeEligible(r) && r.nextProbeAtUs <= nowUs && this.probesInFlight < this.config.maxProbesInFlight) {
        r.probeInFlight = true;
        r.probeIncarnation = r.incarnation;
        r.probeIssuedAtUs = nowUs;
        this.probesInFlight++;
        this.emit({ type: 'probe', taskId: r.taskId, check: r.healthCheck! });
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Effects and bookkeeping.

  private emit(action: RuntimeAction): void {
    this.actions.push(action);
    assert(this.actions.length <= 2 * this.records.size,
      () => `${this.actions.length} runtime actions pending for ${this.records.size} tasks: more than one lifecycle action and one probe each`);
  }

  private report(r: TaskRecord, state: TaskState, exitCode: number | null, message: string, nowUs: number, coalesce = !this.connected): void {
    r.reported = state;
    this.reports.push({ taskId: r.taskId, state, exitCode, message, atUs: nowUs }, coalesce);
  }

  private track(r: TaskRecord): void {
    this.records.set(r.taskId, r);
    this.sortedIdsCache = null;
    this.retired.delete(r.taskId);
  }

  private retire(taskId: TaskId): void {
    this.retired.delete(taskId);
    this.retired.set(taskId, true);
    if (this.retired.size > this.config.maxRetiredTasks) this.retired.delete(this.retired.keys().next().value!);
  }

  private sortedIds(): TaskId[] {
    this.sortedIdsCache ??= [...this.records.keys()].sort(byId);
    return this.sortedIdsCache;
  }

  private observe(nowUs: number): void {
    assert(Number.isFinite(nowUs) && nowUs >= this.lastNowUs, () => `time went backwards: ${nowUs} after ${this.lastNowUs}`);
    this.lastNowUs = nowUs;
  }
}
