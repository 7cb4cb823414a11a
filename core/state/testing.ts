// Builders for the tests of core/state: a valid spec with overrides, and commands with defaults,
// so each test states only what it is about. Not part of the public surface.

import type { StateCommand } from './commands.ts';
import type { ClusterState } from './store.ts';
import type { NodeId, NodeRole, Resources, ServiceId, ServiceSpec, TaskId } from './types.ts';

export const nid = (id: string): NodeId => id as NodeId;
export const sid = (id: string): ServiceId => id as ServiceId;
export const tid = (id: string): TaskId => id as TaskId;

export function spec(overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name: 'web',
    image: 'nginx:1.27',
    command: [],
    args: [],
    env: {},
    mode: { type: 'replicated', replicas: 2 },
    placement: { constraints: [], preferences: [] },
    reservations: { cpuMillis: 100, memoryBytes: 1000 },
    limits: { cpuMillis: 0, memoryBytes: 0 },
    ports: [],
    mounts: [],
    secrets: [],
    healthCheck: null,
    restartPolicy: { condition: 'any', delayMs: 1000, maxAttempts: 0, windowMs: 0 },
    update: { parallelism: 1, delayMs: 0, order: 'stop-first', monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause' },
    rollback: { parallelism: 1, delayMs: 0, order: 'stop-first', monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause' },
    stopGracePeriodMs: 10_000,
    ...overrides,
  };
}

export const register = (
  id: string,
  options: { name?: string; role?: NodeRole; resources?: Resources; labels?: Record<string, string>; atUs?: number } = {},
): StateCommand => ({
  type: 'node-register',
  id: nid(id),
  name: options.name ?? id,
  role: options.role ?? 'worker',
  resources: options.resources ?? { cpuMillis: 1000, memoryBytes: 10_000 },
  labels: options.labels ?? {},
  address: `10.0.0.1:${id.length}`,
  atUs: options.atUs ?? 1,
});

export const createService = (id: string, overrides: Partial<ServiceSpec> = {}, atUs = 2): StateCommand => ({
  type: 'service-create',
  id: sid(id),
  spec: spec({ name: id, ...overrides }),
  atUs,
});

export const createTasks = (
  serviceId: string,
  tasks: readonly { id: string; slot?: number | null; nodeId?: string | null; specVersion?: number }[],
  atUs = 3,
): StateCommand => ({
  type: 'task-create',
  tasks: tasks.map((t, i) => ({
    id: tid(t.id),
    serviceId: sid(serviceId),
    slot: t.slot === undefined ? i + 1 : t.slot,
    nodeId: t.nodeId === undefined || t.nodeId === null ? null : nid(t.nodeId),
    specVersion: t.specVersion ?? 1,
  })),
  atUs,
});

export const assign = (pairs: readonly [task: string, node: string][], atUs = 4): StateCommand => ({
  type: 'task-assign',
  assignments: pairs.map(([taskId, nodeId]) => ({ taskId: tid(taskId), nodeId: nid(nodeId) })),
  atUs,
});

export const report = (taskId: string, state: string, atUs = 5, exitCode: number | null = null): StateCommand => ({
  type: 'task-report',
  taskId: tid(taskId),
  state: state as 'running',
  exitCode,
  message: '',
  atUs,
});

/** Applies commands that must all succeed; returns the store for chaining. */
export function applyAll(state: ClusterState, commands: readonly StateCommand[]): ClusterState {
  for (const command of commands) {
    const result = state.apply(command);
    if (!result.ok) throw new Error(`${command.type} refused: ${result.error.code}: ${result.error.message}`);
  }
  return state;
}
