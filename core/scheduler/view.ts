// The scheduler's read-only input: what it needs to know about the cluster, as an interface of its
// own so the scheduler does not depend on the store (the store implements it over its indexes;
// tests and benchmarks use MemoryView). Invariants: `nodes()` is sorted by id; per-node answers
// count only tasks that hold their node (see `holdsNode`).

import type { ClusterNode, NodeId, PortProtocol, Resources, ServiceId, ServiceSpec, Task, Volume } from '../state/types.ts';
import { terminalTaskStates } from '../state/types.ts';
import { assert } from '../assert.ts';

export interface SchedulerView {
  /** Every node of the cluster, sorted by id. */
  nodes(): readonly ClusterNode[];
  /** The sum of the reservations of the tasks holding the node. */
  reserved(node: NodeId): Resources;
  /** How many tasks hold the node. */
  taskCount(node: NodeId): number;
  /** How many tasks of the service hold the node. */
  serviceTaskCount(node: NodeId, service: ServiceId): number;
  /** The nodes holding tasks of the service, each with how many (nodes with none are absent). */
  serviceTaskNodes(service: ServiceId): ReadonlyMap<NodeId, number>;
  /** Whether a task holding the node publishes this port in host mode. */
  hostPortInUse(node: NodeId, protocol: PortProtocol, port: number): boolean;
  /** The node a volume is bound to, null while unbound, undefined when there is no such volume. */
  volumeNode(name: string): NodeId | null | undefined;
}

/**
 * Whether a task holds its node (counts against its resources, ports and spread): it has a node and
 * is assigned, starting or running. A task that is new or pending holds nothing yet, even when it
 * already names its node (a global service's task does from creation on); a terminal one no longer
 * does.
 */
export function holdsNode(task: Task): boolean {
  return task.nodeId !== null && task.observedState !== 'new' && task.observedState !== 'pending' &&
    !terminalTaskStates.has(task.observedState);
}

/** A task with the spec it runs (its reservations and ports). */
export interface ViewTask {
  readonly task: Task;
  readonly spec: ServiceSpec;
}

export interface MemoryViewInput {
  readonly nodes: readonly ClusterNode[];
  readonly tasks: readonly ViewTask[];
  readonly volumes: readonly Volume[];
}

interface NodeUsage {
  cpuMillis: number;
  memoryBytes: number;
  tasks: number;
  readonly tasksByService: Map<ServiceId, number>;
  readonly hostPorts: Set<string>;
}

const portKey = (protocol: PortProtocol, port: number): string => `${port}/${protocol}`;

/**
 * An in-memory SchedulerView over plain arrays. Reservations are summed from the tasks (the
 * definition of ClusterNode.reserved), so the nodes' own `reserved` fields are not read. `add` and
 * `bindVolume` record placements for callers that schedule several services in a row.
 */
export class MemoryView implements SchedulerView {
  readonly #nodes: readonly ClusterNode[];
  readonly #usage = new Map<NodeId, NodeUsage>();
  readonly #volumes = new Map<string, NodeId | null>();
  /** Per service, the nodes holding its tasks and how many. */
  readonly #serviceNodes = new Map<ServiceId, Map<NodeId, number>>();

  constructor(input: MemoryViewInput) {
    this.#nodes = [...input.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const node of this.#nodes) {
      assert(!this.#usage.has(node.id), () => `MemoryView: node ${node.id} given twice`);
      this.#usage.set(node.id, { cpuMillis: 0, memoryBytes: 0, tasks: 0, tasksByService: new Map(), hostPorts: new Set() });
    }
    for (const entry of input.tasks) this.add(entry);
    for (const volume of input.volumes) this.#volumes.set(volume.name, volume.nodeId);
  }

  /** Records a task; one that does not hold a node is ignored. */
  add({ task, spec }: ViewTask): void {
    if (!holdsNode(task)) return;
    const usage = this.#usage.get(task.nodeId!);
    if (usage === undefined) return; // a task on a node that left the cluster holds nothing here
    usage.cpuMillis += spec.reservations.cpuMillis;
    usage.memoryBytes += spec.reservations.memoryBytes;
    usage.tasks++;
    usage.tasksByService.set(task.serviceId, (usage.tasksByService.get(task.serviceId) ?? 0) + 1);
    let nodes = this.#serviceNodes.get(task.serviceId);
    if (nodes === undefined) this.#serviceNodes.set(task.serviceId, (nodes = new Map()));
    nodes.set(task.nodeId!, (nodes.get(task.nodeId!) ?? 0) + 1);
    for (const port of spec.ports) {
      if (port.mode === 'host' && port.published !== 0) usage.hostPorts.add(portKey(port.protocol, port.published));
    }
  }

  bindVolume(name: string, node: NodeId): void {
    this.#volumes.set(name, node);
  }

  nodes(): readonly ClusterNode[] {
    return this.#nodes;
  }

  reserved(node: NodeId): Resources {
    const usage = this.#usage.get(node);
    return usage === undefined ? { cpuMillis: 0, memoryBytes: 0 } : { cpuMillis: usage.cpuMillis, memoryBytes: usage.memoryBytes };
  }

  taskCount(node: NodeId): number {
    return this.#usage.get(node)?.tasks ?? 0;
  }

  serviceTaskCount(node: NodeId, service: ServiceId): number {
    return this.#usage.get(node)?.tasksByService.get(service) ?? 0;
  }

  serviceTaskNodes(service: ServiceId): ReadonlyMap<NodeId, number> {
    return this.#serviceNodes.get(service) ?? new Map();
  }

  hostPortInUse(node: NodeId, protocol: PortProtocol, port: number): boolean {
    return this.#usage.get(node)?.hostPorts.has(portKey(protocol, port)) ?? false;
  }

  volumeNode(name: string): NodeId | null | undefined {
    return this.#volumes.get(name);
  }
}
