// A test driver for the reconciler: a store, a leader that runs reconcile passes and applies what
// they propose, and idealized workers that report their tasks starting, running and shutting down
// (the real agent and simulated runtime come in the simulator). Time advances by a fixed step.
// Not part of the public surface.

import type { StateCommand } from '../state/commands.ts';
import { ClusterState, noStoreBugs, type StoreBugs } from '../state/index.ts';
import { isTerminal } from '../state/index.ts';
import type { NodeId, Task } from '../state/types.ts';
import { defaultReconcilerConfig, type ReconcileInput, type ReconcilerConfig } from './config.ts';
import { reconcile } from './reconciler.ts';

export class ReconcileWorld {
  readonly state: ClusterState;
  nowUs = 10;
  private nextId = 0;
  readonly lastSeen = new Map<NodeId, number>();
  /** Nodes whose worker has stopped (no heartbeats, no reports). */
  readonly dead = new Set<NodeId>();
  /** Tasks whose container fails right after starting (exit code 1), by image. */
  readonly failingImages = new Set<string>();
  readonly proposed: StateCommand[] = [];
  config: ReconcilerConfig = defaultReconcilerConfig;
  leaderSinceUs = 0;
  idPrefix = 'a';

  /** `storeBugs`: planted bugs of the store's checks (the tests of the planted bugs). */
  constructor(storeBugs: StoreBugs = noStoreBugs) {
    this.state = new ClusterState(undefined, storeBugs);
  }

  apply(command: StateCommand): void {
    const result = this.state.apply(command);
    if (!result.ok) throw new Error(`${command.type} refused: ${result.error.message}\n${JSON.stringify(command).slice(0, 400)}`);
  }

  input(): ReconcileInput {
    return {
      nowUs: this.nowUs,
      newId: (prefix) => `${prefix}-${this.idPrefix}${++this.nextId}`,
      lastSeenUs: (node) => this.lastSeen.get(node),
      leaderSinceUs: this.leaderSinceUs,
      config: this.config,
    };
  }

  /** One reconcile pass, its commands applied. Returns them. */
  pass(): StateCommand[] {
    const commands = reconcile(this.state, this.input());
    for (const c of commands) this.apply(c);
    this.proposed.push(...commands);
    return commands;
  }

  /** The workers of live nodes heartbeat and move their tasks one step along. */
  work(): void {
    for (const node of this.state.nodes()) {
      if (this.dead.has(node.id)) continue;
      this.lastSeen.set(node.id, this.nowUs);
      if (node.status === 'down') this.apply({ type: 'node-heartbeat', id: node.id, atUs: this.nowUs });
      for (const task of this.state.tasksOnNode(node.id)) this.step(task);
    }
  }

  private step(task: Task): void {
    if (isTerminal(task.observedState) || task.observedState === 'new' || task.observedState === 'pending') return;
    const report = (state: Task['observedState'], exitCode: number | null = null) =>
      this.apply({ type: 'task-report', taskId: task.id, state, exitCode, message: state === 'failed' ? 'exit 1' : '', atUs: this.nowUs });
    if (task.desiredState === 'shutdown') return report('shutdown', 0);
    const image = this.state.service(task.serviceId)?.spec.image;
    const spec = image && this.imageOf(task);
    if (task.observedState === 'assigned') return report('starting');
    if (task.observedState === 'starting') return spec !== undefined && this.failingImages.has(spec) ? report('failed', 1) : report('running');
  }

  /** The image the task runs: its own spec version's image (current or previous spec). */
  imageOf(task: Task): string | undefined {
    const s = this.state.service(task.serviceId);
    if (!s) return undefined;
    if (task.specVersion === s.specVersion) return s.spec.image;
    return task.specVersion === s.previousSpecVersion ? s.previousSpec?.image : undefined;
  }

  /** Passes and work, `steps` times, time advancing `stepUs` each. */
  run(steps: number, stepUs = 100_000, each?: () => void): void {
    for (let i = 0; i < steps; i++) {
      this.pass();
      this.work();
      each?.();
      this.nowUs += stepUs;
    }
  }

  live(serviceId: string): Task[] {
    return this.state.tasksOfService(serviceId as Task['serviceId']).filter((t) => t.desiredState === 'running' && !isTerminal(t.observedState));
  }

  running(serviceId: string): Task[] {
    return this.live(serviceId).filter((t) => t.observedState === 'running');
  }
}
