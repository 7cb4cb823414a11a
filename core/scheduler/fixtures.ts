// Builders of nodes, services, tasks and volumes with plain defaults, for the scheduler's tests and
// benchmark: each takes only what a test is about and fills in the rest.

import type {
  ClusterNode, NodeId, PortConfig, Resources, Service, ServiceId, ServiceSpec, Task, TaskId, TaskState, UpdateConfig, Volume, VolumeId,
} from '../state/types.ts';

export const mebibytes = (count: number): number => count * 1024 * 1024;
export const gibibytes = (count: number): number => count * 1024 * 1024 * 1024;

export interface NodeOptions {
  readonly name?: string;
  readonly role?: ClusterNode['role'];
  readonly availability?: ClusterNode['availability'];
  readonly status?: ClusterNode['status'];
  readonly labels?: Readonly<Record<string, string>>;
  readonly resources?: Resources;
}

export function makeNode(id: string, options: NodeOptions = {}): ClusterNode {
  return {
    id: id as NodeId,
    name: options.name ?? `host-${id}`,
    version: 1,
    role: options.role ?? 'worker',
    availability: options.availability ?? 'active',
    status: options.status ?? 'ready',
    labels: options.labels ?? {},
    resources: options.resources ?? { cpuMillis: 4000, memoryBytes: gibibytes(8) },
    reserved: { cpuMillis: 0, memoryBytes: 0 },
    address: `10.0.0.1:${id}`,
    lastHeartbeatUs: 0,
    createdAtUs: 0,
    updatedAtUs: 0,
  };
}

export interface ServiceOptions {
  readonly name?: string;
  readonly replicas?: number;
  readonly global?: boolean;
  readonly constraints?: readonly string[];
  readonly spread?: readonly string[];
  readonly reservations?: Resources;
  readonly ports?: readonly Partial<PortConfig>[];
  readonly volumes?: readonly string[];
}

const update: UpdateConfig = { parallelism: 1, delayMs: 0, order: 'stop-first', monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause' };

export function makeSpec(options: ServiceOptions = {}): ServiceSpec {
  return {
    name: options.name ?? 'web',
    image: 'busybox:1.36',
    command: [],
    args: [],
    env: {},
    mode: options.global === true ? { type: 'global' } : { type: 'replicated', replicas: options.replicas ?? 1 },
    placement: { constraints: options.constraints ?? [], preferences: (options.spread ?? []).map((spread) => ({ spread })) },
    reservations: options.reservations ?? { cpuMillis: 0, memoryBytes: 0 },
    limits: { cpuMillis: 0, memoryBytes: 0 },
    ports: (options.ports ?? []).map((port) => ({ target: 80, published: 0, protocol: 'tcp', mode: 'host', ...port })),
    mounts: (options.volumes ?? []).map((volume) => ({ volume, target: `/data/${volume}`, readOnly: false })),
    secrets: [],
    healthCheck: null,
    restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
    update,
    rollback: update,
    stopGracePeriodMs: 10_000,
  };
}

export function makeService(id: string, options: ServiceOptions = {}): Service {
  return {
    id: id as ServiceId,
    version: 1,
    spec: makeSpec(options),
    specVersion: 1,
    previousSpec: null,
    previousSpecVersion: null,
    updateStatus: null,
    createdAtUs: 0,
    updatedAtUs: 0,
  };
}

export interface TaskOptions {
  readonly slot?: number | null;
  readonly nodeId?: string | null;
  readonly state?: TaskState;
  readonly desiredState?: Task['desiredState'];
  readonly specVersion?: number;
}

export function makeTask(id: string, serviceId: string, options: TaskOptions = {}): Task {
  return {
    id: id as TaskId,
    version: 1,
    serviceId: serviceId as ServiceId,
    slot: options.slot === undefined ? null : options.slot,
    nodeId: (options.nodeId ?? null) as NodeId | null,
    specVersion: options.specVersion ?? 1,
    desiredState: options.desiredState ?? 'running',
    shutdownCause: null,
    shutdownAtUs: null,
    observedState: options.state ?? 'pending',
    message: '',
    exitCode: null,
    restartCount: 0,
    createdAtUs: 0,
    updatedAtUs: 0,
  };
}

/** Pending tasks for slots 1..count of a replicated service, ids `${prefix}.1` and on. */
export function pendingTasks(serviceId: string, count: number, prefix: string = serviceId): Task[] {
  return Array.from({ length: count }, (_, i) => makeTask(`${prefix}.${String(i + 1).padStart(6, '0')}`, serviceId, { slot: i + 1 }));
}

export function makeVolume(name: string, nodeId: string | null = null): Volume {
  return { id: `vol-${name}` as VolumeId, name, version: 1, driver: 'local', nodeId: nodeId as NodeId | null, createdAtUs: 0 };
}
