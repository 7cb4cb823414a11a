// What workers and managers say to each other (over the simulated network, or gRPC in the daemon), and how a manager builds a
// worker's assignments from the cluster store. A worker heartbeats the manager it believes leads,
// carrying its registration and the task reports not yet seen in the store; the leader answers with
// the node's assignments, anyone else with a redirect. Messages carry the worker's incarnation and
// heartbeat number so a worker can drop answers meant for an earlier life or an earlier question.
// Invariants: assignments name only placed tasks of the node (never new or pending ones, which the
// scheduler has not given a node), each with the container spec of the task's own spec version when
// the store still holds it; assignments are built from one store at one moment, sorted by task id.

import type { Assignment, TaskReport } from '../agent/index.ts';
import type { ContainerSpec } from '../ports.ts';
import { isTerminal, isUnassigned, type StateView } from '../state/index.ts';
import type { NodeId, Resources, RestartPolicy, Service, ServiceSpec, Task } from '../state/types.ts';

export interface WorkerRegistration {
  readonly name: string;
  readonly resources: Resources;
  readonly labels: Readonly<Record<string, string>>;
  readonly address: string;
  /** 'hybrid' for a manager that also runs tasks; default 'worker'. */
  readonly role?: 'worker' | 'hybrid';
}

export interface WorkerHeartbeat {
  readonly type: 'worker-heartbeat';
  readonly node: NodeId;
  /** Bumped at every restart of the worker, so answers to an earlier life are dropped. */
  readonly incarnation: number;
  /** Increases with every heartbeat of one incarnation. */
  readonly seq: number;
  readonly reports: readonly TaskReport[];
  readonly registration: WorkerRegistration;
}

export type WorkerMessage = WorkerHeartbeat;

export type ManagerMessage =
  | {
      readonly type: 'assignments';
      readonly from: NodeId;
      readonly leader: NodeId;
      /** The leader's term: a worker never goes back to the view of an earlier term. */
      readonly term: number;
      readonly incarnation: number;
      readonly seq: number;
      readonly assignments: readonly Assignment[];
    }
  /**
   * Not the leader (or a leader whose store does not yet hold every committed entry, which then
   * names itself): ask `leader` instead, or another manager when it is null.
   */
  | { readonly type: 'redirect'; readonly from: NodeId; readonly leader: NodeId | null; readonly incarnation: number; readonly seq: number };

/** Container specs by the (immutable) service spec they came from: built once per spec. */
export type ContainerSpecCache = WeakMap<ServiceSpec, ContainerSpec>;

export function containerSpecOf(spec: ServiceSpec, cache: ContainerSpecCache): ContainerSpec {
  const known = cache.get(spec);
  if (known !== undefined) return known;
  const container: ContainerSpec = {
    image: spec.image,
    command: spec.command,
    args: spec.args,
    env: spec.env,
    limits: spec.limits,
    mounts: spec.mounts.map((m) => ({ volume: m.volume, target: m.target, readOnly: m.readOnly })),
    secrets: spec.secrets.map((s) => ({ secret: s.secret, target: s.target })),
    ports: spec.ports.map((p) => ({ target: p.target, published: p.published, protocol: p.protocol })),
    stopGracePeriodMs: spec.stopGracePeriodMs,
  };
  cache.set(spec, container);
  return container;
}

/** Grace for stopping a task whose service was removed (its spec is gone with it). */
const removedServiceStopGraceMs = 10_000;
const noRestart: RestartPolicy = { condition: 'none', delayMs: 0, maxAttempts: 0, windowMs: 0 };
/**
 * A task of a removed service is only ever stopped (its desired state is shutdown), so its
 * container spec is never used to create anything; it still travels so the agent can report the
 * task shut down and the store release what it holds on the node.
 */
const removedServiceContainer: ContainerSpec = {
  image: 'removed-service', command: [], args: [], env: {}, limits: { cpuMillis: 0, memoryBytes: 0 },
  mounts: [], secrets: [], ports: [], stopGracePeriodMs: removedServiceStopGraceMs,
};

/**
 * The spec a task runs: the current one or the previous one (kept for rollback), by its version.
 * The store keeps no older spec; a task of an older version (a second update began before the
 * first finished) is one the updater replaces, and its container normally exists already, so the
 * current spec stands in for it.
 */
export function specOfTask(service: Service, task: Task): ServiceSpec {
  if (task.specVersion === service.specVersion) return service.spec;
  if (task.specVersion === service.previousSpecVersion && service.previousSpec !== null) return service.previousSpec;
  return service.spec;
}

/** Whether the node should hear of the task: placed, and wanted running or not yet finished. */
export function isAssignable(task: Task): boolean {
  if (isUnassigned(task.observedState)) return false;
  return task.desiredState === 'running' || !isTerminal(task.observedState);
}

/** The node's assignments now, sorted by task id (the store lists tasks by id). */
export function assignmentsFor(state: StateView, node: NodeId, cache: ContainerSpecCache): Assignment[] {
  const out: Assignment[] = [];
  for (const task of state.tasksOnNode(node)) {
    if (task.nodeId !== node || !isAssignable(task)) continue;
    const service = state.service(task.serviceId);
    if (service === null) {
      out.push({ task, container: removedServiceContainer, healthCheck: null, restartPolicy: noRestart });
      continue;
    }
    const spec = specOfTask(service, task);
    out.push({ task, container: containerSpecOf(spec, cache), healthCheck: spec.healthCheck, restartPolicy: spec.restartPolicy });
  }
  return out;
}
