// A tiny deterministic container runtime for the agent's tests (core tests may not use sim/).
// It performs each action at once and queues exactly one outcome per action; tests deliver the
// queued outcomes in order (drive) or in any order they choose (the property test). Image tags
// steer it: `:missing` cannot be pulled (not found), `:flaky` fails to pull (connection reset),
// `:nostart` fails to start, `:unhealthy` fails every probe. It records what it was asked to do
// and flags requests that a correct agent never makes.

import { assert } from '../assert.ts';
import type { ContainerSpec, ContainerStatus, RuntimeAction, RuntimeEvent } from '../ports.ts';
import type { DesiredTaskState, HealthCheck, NodeId, RestartPolicy, ServiceId, Task, TaskId, TaskState } from '../state/types.ts';
import type { Agent } from './agent.ts';
import type { Assignment } from './types.ts';

export interface FakeContainer {
  state: 'created' | 'running' | 'exited';
  readonly image: string;
  exitCode: number | null;
}

export class FakeRuntime {
  readonly containers = new Map<TaskId, FakeContainer>();
  /** Every action performed, in order. */
  readonly performed: RuntimeAction[] = [];
  /** Outcomes not yet delivered to the agent. */
  pending: RuntimeEvent[] = [];
  /** Probe outcomes held back while `answerProbes` is false. */
  heldProbes: RuntimeEvent[] = [];
  answerProbes = true;
  /** Exit code a stopped container reports (0: it honoured SIGTERM; 137: killed after the grace). */
  stopExitCode = 0;
  /** Requests a correct agent never makes. */
  readonly violations: string[] = [];

  perform(action: RuntimeAction): void {
    this.performed.push(action);
    const { taskId } = action;
    const c = this.containers.get(taskId);
    switch (action.type) {
      case 'pull':
        if (action.image.endsWith(':missing')) return this.answer({ type: 'pulled', taskId, ok: false, error: `image ${action.image} not found in registry` });
        if (action.image.endsWith(':flaky')) return this.answer({ type: 'pulled', taskId, ok: false, error: `pulling ${action.image}: connection reset by registry` });
        return this.answer({ type: 'pulled', taskId, ok: true, error: null });
      case 'create':
        if (c !== undefined) this.violations.push(`create ${taskId} while the runtime holds its ${c.state} container`);
        this.containers.set(taskId, { state: 'created', image: action.spec.image, exitCode: null });
        return this.answer({ type: 'created', taskId, ok: true, error: null });
      case 'start':
        if (c === undefined || c.state !== 'created') return this.answer({ type: 'started', taskId, ok: false, error: 'no such container' });
        if (c.image.endsWith(':nostart')) {
          c.state = 'exited';
          c.exitCode = 126;
          return this.answer({ type: 'started', taskId, ok: false, error: 'OCI runtime create failed: exec format error' });
        }
        c.state = 'running';
        return this.answer({ type: 'started', taskId, ok: true, error: null });
      case 'stop':
        if (c !== undefined && c.state === 'running') {
          c.state = 'exited';
          c.exitCode = this.stopExitCode;
        }
        return this.answer({ type: 'exited', taskId, exitCode: c?.exitCode ?? 0, oomKilled: false });
      case 'remove':
        this.containers.delete(taskId);
        return this.answer({ type: 'removed', taskId });
      case 'probe': {
        const running = c !== undefined && c.state === 'running';
        const healthy = running && !c.image.endsWith(':unhealthy');
        const outcome: RuntimeEvent = { type: 'probed', taskId, healthy, message: healthy ? 'ok' : running ? 'HTTP 503' : 'container is not running' };
        if (this.answerProbes) this.pending.push(outcome);
        else this.heldProbes.push(outcome);
        return;
      }
    }
  }

  private answer(event: RuntimeEvent): void {
    this.pending.push(event);
  }

  /** The container exits on its own (crash or OOM kill); false if it was not running. */
  crash(taskId: TaskId, exitCode: number, oomKilled = false): boolean {
    const c = this.containers.get(taskId);
    if (c === undefined || c.state !== 'running') return false;
    c.state = 'exited';
    c.exitCode = exitCode;
    this.pending.push({ type: 'exited', taskId, exitCode, oomKilled });
    return true;
  }

  releaseProbes(): void {
    this.pending.push(...this.heldProbes);
    this.heldProbes = [];
  }

  takeEvents(): RuntimeEvent[] {
    const taken = this.pending;
    this.pending = [];
    return taken;
  }

  /** What an agent finds after its process restarts, sorted by task id. */
  list(): ContainerStatus[] {
    return [...this.containers.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([taskId, c]) => ({ taskId, state: c.state, exitCode: c.exitCode }));
  }

  countOf(type: RuntimeAction['type'], taskId?: TaskId): number {
    return this.performed.filter((a) => a.type === type && (taskId === undefined || a.taskId === taskId)).length;
  }
}

/** Bound on action/outcome rounds in one drive, so a livelock fails the test instead of hanging it. */
const maxDriveRounds = 1_000;

/** Performs the agent's actions and delivers every outcome at `nowUs`, until both sides are quiet. */
export function drive(agent: Agent, runtime: FakeRuntime, nowUs: number): void {
  for (let round = 0; round < maxDriveRounds; round++) {
    const actions = agent.takeActions();
    for (const action of actions) runtime.perform(action);
    const events = runtime.takeEvents();
    if (actions.length === 0 && events.length === 0) return;
    for (const event of events) agent.onRuntimeEvent(event, nowUs);
  }
  assert(false, `agent and runtime still busy after ${maxDriveRounds} rounds`);
}

// ---------------------------------------------------------------------------------------------
// Fixtures: an assignment with sensible defaults, overridable per test.

export const testNode = 'worker-1' as NodeId;

export interface AssignmentOverrides {
  readonly image?: string;
  readonly desiredState?: DesiredTaskState;
  readonly observedState?: TaskState;
  readonly healthCheck?: HealthCheck | null;
  readonly restartPolicy?: Partial<RestartPolicy>;
  readonly stopGracePeriodMs?: number;
}

export function assignment(id: string, overrides: AssignmentOverrides = {}): Assignment {
  const task: Task = {
    id: id as TaskId,
    version: 1,
    serviceId: 'svc-1' as ServiceId,
    slot: 1,
    nodeId: testNode,
    specVersion: 1,
    desiredState: overrides.desiredState ?? 'running',
    shutdownCause: null,
    shutdownAtUs: null,
    observedState: overrides.observedState ?? 'assigned',
    message: '',
    exitCode: null,
    restartCount: 0,
    createdAtUs: 0,
    updatedAtUs: 0,
  };
  const container: ContainerSpec = {
    image: overrides.image ?? 'registry/app:1',
    command: [],
    args: [],
    env: {},
    limits: { cpuMillis: 0, memoryBytes: 0 },
    mounts: [],
    secrets: [],
    ports: [],
    stopGracePeriodMs: overrides.stopGracePeriodMs ?? 10_000,
  };
  const restartPolicy: RestartPolicy = { condition: 'on-failure', delayMs: 100, maxAttempts: 0, windowMs: 0, ...overrides.restartPolicy };
  return { task, container, healthCheck: overrides.healthCheck ?? null, restartPolicy };
}

export function httpCheck(overrides: Partial<{ intervalMs: number; timeoutMs: number; retries: number; startPeriodMs: number }> = {}): HealthCheck {
  return { type: 'http', port: 8080, path: '/health', intervalMs: 1_000, timeoutMs: 500, retries: 3, startPeriodMs: 0, ...overrides };
}
