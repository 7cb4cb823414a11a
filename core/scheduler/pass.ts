// Placement across services in one pass (the reconciler places every service's waiting tasks in
// each pass): one setup over the nodes, then each service placed against a shared view that
// records the placements of the services before it. The setup is what schedule() would otherwise
// redo per service: every node's free resources and task count, once per pass; eligible nodes are
// computed once per distinct constraint list and spread groups once per distinct preference list;
// a service's own tasks are looked up by service, not node by node.
// A service with few tasks and no volumes is placed by scanning its eligible nodes once per task
// (typed arrays, nothing allocated per node), in node id order so that ties keep the smallest id;
// other services (global, volumes, many tasks) go through schedule()'s own algorithm on the shared
// view. Both give the minimum of the same lexicographic score.
// Invariant: the decisions equal calling schedule(view, service, tasks) for each service in turn on
// a view that records the earlier services' placements (`add` and `bindVolume` on a MemoryView, as
// the reconciler did before this existed): properties in pass.property.test.ts.

import type { ClusterNode, NodeId, PortProtocol, Resources, Service, ServiceId, Task } from '../state/types.ts';
import { assert } from '../assert.ts';
import { attributeValue } from './constraints.ts';
import { eligibleNodes, explainNoFit, newNodeState, noSchedulerBugs, type BatchContext, type HostPort, type SchedulerBugs } from './filters.ts';
import { batchContext, maxBatchTasks, orderTasks, scheduleGlobal, scheduleReplicated, unschedulable, type Decision } from './scheduler.ts';
import type { SchedulerView } from './view.ts';

export interface PassSchedulerOptions {
  /** Services with at most this many tasks (and no volumes) are placed by scanning; more, by the candidate heap. */
  readonly scanMaxTasks: number;
  readonly bugs: SchedulerBugs;
}

/**
 * Scanning costs one visit of each eligible node per task, the heap about two node states and a
 * heap insertion per eligible node per service: past a few dozen tasks the heap is cheaper.
 */
export const defaultPassSchedulerOptions: PassSchedulerOptions = { scanMaxTasks: 32, bugs: noSchedulerBugs };

/** Eligible nodes for one constraint list, as indexes into the pass's node list (id order). */
type Eligible = { readonly indexes: Int32Array; readonly mask: Uint8Array } | { readonly reason: string };

/** Spread groups for one preference list: per level, each node's group number, and how many groups. */
interface Groups {
  readonly byLevel: readonly Int32Array[];
  readonly counts: readonly number[];
}

/** Bound on distinct constraint lists and preference lists cached in one pass (each costs a pass over the nodes). */
const maxCachedLists = 4096;

export class PassScheduler {
  readonly #options: PassSchedulerOptions;
  readonly #overlay: PassView;
  readonly #eligible = new Map<string, Eligible>();
  readonly #groups = new Map<string, Groups>();
  /** Scratch per node, zero between calls: the current service's tasks there, and this call's placements. */
  readonly #serviceTasks: Int32Array;
  readonly #placed: Int32Array;
  /** Scratch: the best node's group counts, per spread level. */
  #bestGroups = new Int32Array(4);

  constructor(view: SchedulerView, options: Partial<PassSchedulerOptions> = {}) {
    this.#options = { ...defaultPassSchedulerOptions, ...options };
    this.#overlay = new PassView(view);
    this.#serviceTasks = new Int32Array(this.#overlay.nodeList.length);
    this.#placed = new Int32Array(this.#overlay.nodeList.length);
  }

  /** The view as it stands after the placements decided so far. */
  get view(): SchedulerView {
    return this.#overlay;
  }

  /** Decides the tasks' placements, as schedule() would on the current view, and records them. */
  schedule(service: Service, tasks: readonly Task[]): Decision[] {
    assert(tasks.length <= maxBatchTasks, () => `schedule: ${tasks.length} tasks exceed the batch bound ${maxBatchTasks}`);
    const ordered = orderTasks(service, tasks);
    const context = batchContext(this.#overlay, service, this.#options.bugs);
    if ('reason' in context) return ordered.map((task) => unschedulable(task, context.reason));
    let decisions: Decision[];
    if (service.spec.mode.type === 'global') decisions = scheduleGlobal(context, service, ordered);
    else if (ordered.length > this.#options.scanMaxTasks || service.spec.mounts.length > 0) decisions = scheduleReplicated(context, service, ordered);
    else return this.#scan(context, service, ordered);
    for (const decision of decisions) if (decision.type === 'placed') this.#overlay.record(this.#overlay.indexOf(decision.nodeId), service);
    return decisions;
  }

  /** A replicated service without volumes: for each task, the best eligible node that fits, by one scan. */
  #scan(context: BatchContext, service: Service, tasks: readonly Task[]): Decision[] {
    if (tasks.length === 0) return [];
    const eligible = this.#eligibleFor(context);
    if ('reason' in eligible) return tasks.map((task) => unschedulable(task, eligible.reason));
    const groups = this.#groupsFor(context);
    if (this.#bestGroups.length < groups.counts.length) this.#bestGroups = new Int32Array(groups.counts.length);
    const overlay = this.#overlay;
    const serviceTasks = this.#serviceTasks;
    const placed = this.#placed;
    const holders = overlay.holdersOf(service.id);
    // Tasks of the service per spread group, over the eligible nodes (as the candidate structure counts them).
    const groupTasks = groups.counts.map((count) => new Int32Array(count));
    for (const [index, count] of holders) {
      serviceTasks[index] = count;
      if (eligible.mask[index] === 0) continue;
      for (let level = 0; level < groupTasks.length; level++) groupTasks[level]![groups.byLevel[level]![index]!]! += count;
    }
    const decisions: Decision[] = [];
    const touched: number[] = [];
    let noFitReason: string | null = null;
    for (const task of tasks) {
      const best = this.#best(context, eligible.indexes, groupTasks, groups);
      if (best < 0) {
        noFitReason ??= this.#explainNoFit(context, eligible.indexes, service.id);
        decisions.push(unschedulable(task, noFitReason));
        continue;
      }
      if (placed[best] === 0) touched.push(best);
      placed[best]!++;
      serviceTasks[best]!++;
      for (let level = 0; level < groupTasks.length; level++) groupTasks[level]![groups.byLevel[level]![best]!]!++;
      overlay.record(best, service);
      decisions.push({ type: 'placed', taskId: task.id, nodeId: overlay.nodeList[best]!.id, bindVolumes: [] });
    }
    for (const [index] of holders) serviceTasks[index] = 0;
    for (const index of touched) {
      serviceTasks[index] = 0;
      placed[index] = 0;
    }
    return decisions;
  }

  /**
   * The eligible node that fits with the smallest score: the service's tasks on it, its groups'
   * tasks of the service level by level, its tasks in all, then the most free memory; ties go to
   * the smallest id, which comes first in the scan. -1 when none fits. The hot loop of a pass that
   * places many small services: only typed arrays, the best node's keys kept in locals.
   */
  #best(context: BatchContext, indexes: Int32Array, groupTasks: readonly Int32Array[], groups: Groups): number {
    const { freeCpu, freeMemory, totalTasks } = this.#overlay;
    const serviceTasks = this.#serviceTasks;
    const cpu = context.reservations.cpuMillis;
    const memory = context.reservations.memoryBytes;
    const ports = context.hostPorts.length > 0 ? context.hostPorts : null;
    const levels = groupTasks.length;
    const bestGroups = this.#bestGroups;
    let best = -1;
    let bestService = 0;
    let bestTotal = 0;
    let bestFree = 0;
    for (let k = 0; k < indexes.length; k++) {
      const i = indexes[k]!;
      const free = freeMemory[i]!;
      if (freeCpu[i]! < cpu || free < memory) continue;
      if (ports !== null && !this.#portsFree(ports, i)) continue;
      const service = serviceTasks[i]!;
      if (best >= 0) {
        if (service > bestService) continue;
        if (service === bestService) {
          let order = 0;
          for (let level = 0; level < levels && order === 0; level++) order = groupTasks[level]![groups.byLevel[level]![i]!]! - bestGroups[level]!;
          if (order > 0) continue;
          if (order === 0) {
            const total = totalTasks[i]!;
            if (total > bestTotal || (total === bestTotal && free <= bestFree)) continue;
          }
        }
      }
      best = i;
      bestService = service;
      bestTotal = totalTasks[i]!;
      bestFree = free;
      for (let level = 0; level < levels; level++) bestGroups[level] = groupTasks[level]![groups.byLevel[level]![i]!]!;
    }
    return best;
  }

  /** A port is taken where a task holding the node publishes it, placed by this pass (this call too) or before. */
  #portsFree(ports: readonly HostPort[], index: number): boolean {
    const id = this.#overlay.nodeList[index]!.id;
    for (const port of ports) if (this.#overlay.hostPortInUse(id, port.protocol, port.port)) return false;
    return true;
  }

  /** The reason schedule() gives when nothing fits: its explanation over the eligible nodes as they stand. */
  #explainNoFit(context: BatchContext, indexes: Int32Array, serviceId: ServiceId): string {
    const states = Array.from(indexes, (index) => {
      const state = newNodeState(context, this.#overlay.nodeList[index]!, serviceId);
      state.placedInBatch = this.#placed[index]!;
      return state;
    });
    return explainNoFit(context, states, null);
  }

  #eligibleFor(context: BatchContext): Eligible {
    const key = context.constraints.map((c) => c.text).join('\n');
    let eligible = this.#eligible.get(key);
    if (eligible === undefined) {
      const filtered = eligibleNodes(context, null);
      if ('reason' in filtered) {
        eligible = filtered;
      } else {
        const indexes = Int32Array.from(filtered.nodes, (node) => this.#overlay.indexOf(node.id));
        const mask = new Uint8Array(this.#overlay.nodeList.length);
        for (const index of indexes) mask[index] = 1;
        eligible = { indexes, mask };
      }
      if (this.#eligible.size < maxCachedLists) this.#eligible.set(key, eligible);
    }
    return eligible;
  }

  /** Group numbers from the same length-prefixed paths as the candidate structure's (filters.ts). */
  #groupsFor(context: BatchContext): Groups {
    const key = context.preferences.map((p) => p.text).join('\n');
    let groups = this.#groups.get(key);
    if (groups === undefined) {
      const nodes = this.#overlay.nodeList;
      const paths = nodes.map(() => '');
      const byLevel: Int32Array[] = [];
      const counts: number[] = [];
      for (const preference of context.preferences) {
        const numbers = new Map<string, number>();
        const byNode = new Int32Array(nodes.length);
        for (let i = 0; i < nodes.length; i++) {
          const value = attributeValue(preference.attribute, nodes[i]!);
          const path = paths[i] + (value === null ? '-' : `${value.length}:${value}`);
          paths[i] = path;
          let number = numbers.get(path);
          if (number === undefined) numbers.set(path, (number = numbers.size));
          byNode[i] = number;
        }
        byLevel.push(byNode);
        counts.push(numbers.size);
      }
      groups = { byLevel, counts };
      if (this.#groups.size < maxCachedLists) this.#groups.set(key, groups);
    }
    return groups;
  }
}

/**
 * The pass's view: the underlying view as it was when the pass began, plus the placements recorded
 * since, kept per node in arrays indexed like the node list (which a pass does not change).
 */
class PassView implements SchedulerView {
  readonly nodeList: readonly ClusterNode[];
  readonly freeCpu: Float64Array;
  readonly freeMemory: Float64Array;
  readonly totalTasks: Int32Array;
  readonly #base: SchedulerView;
  readonly #index = new Map<NodeId, number>();
  /** Per service, the tasks this pass placed: node index → count. */
  readonly #added = new Map<ServiceId, Map<number, number>>();
  readonly #addedPorts = new Set<string>();
  readonly #boundVolumes = new Map<string, NodeId>();

  constructor(base: SchedulerView) {
    this.#base = base;
    this.nodeList = base.nodes();
    const count = this.nodeList.length;
    this.freeCpu = new Float64Array(count);
    this.freeMemory = new Float64Array(count);
    this.totalTasks = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const node = this.nodeList[i]!;
      this.#index.set(node.id, i);
      const reserved = base.reserved(node.id);
      this.freeCpu[i] = node.resources.cpuMillis - reserved.cpuMillis;
      this.freeMemory[i] = node.resources.memoryBytes - reserved.memoryBytes;
      this.totalTasks[i] = base.taskCount(node.id);
    }
  }

  indexOf(node: NodeId): number {
    const index = this.#index.get(node);
    assert(index !== undefined, () => `node ${node} is not in the pass's view`);
    return index;
  }

  /** The nodes holding tasks of the service now: node index → count. */
  holdersOf(service: ServiceId): ReadonlyMap<number, number> {
    const holders = new Map<number, number>();
    for (const [node, count] of this.#base.serviceTaskNodes(service)) {
      const index = this.#index.get(node);
      if (index !== undefined) holders.set(index, count);
    }
    const added = this.#added.get(service);
    if (added !== undefined) for (const [index, count] of added) holders.set(index, (holders.get(index) ?? 0) + count);
    return holders;
  }

  /** One more task of the service on the node: its reservations, host ports and unbound volumes. */
  record(index: number, service: Service): void {
    const node = this.nodeList[index]!.id;
    const spec = service.spec;
    this.freeCpu[index]! -= spec.reservations.cpuMillis;
    this.freeMemory[index]! -= spec.reservations.memoryBytes;
    this.totalTasks[index]!++;
    let added = this.#added.get(service.id);
    if (added === undefined) this.#added.set(service.id, (added = new Map()));
    added.set(index, (added.get(index) ?? 0) + 1);
    for (const port of spec.ports) if (port.mode === 'host' && port.published > 0) this.#addedPorts.add(portKey(node, port.protocol, port.published));
    for (const mount of spec.mounts) if (this.volumeNode(mount.volume) === null) this.#boundVolumes.set(mount.volume, node);
  }

  nodes(): readonly ClusterNode[] {
    return this.nodeList;
  }

  reserved(node: NodeId): Resources {
    const index = this.#index.get(node);
    if (index === undefined) return this.#base.reserved(node);
    const resources = this.nodeList[index]!.resources;
    return { cpuMillis: resources.cpuMillis - this.freeCpu[index]!, memoryBytes: resources.memoryBytes - this.freeMemory[index]! };
  }

  taskCount(node: NodeId): number {
    const index = this.#index.get(node);
    return index === undefined ? this.#base.taskCount(node) : this.totalTasks[index]!;
  }

  serviceTaskCount(node: NodeId, service: ServiceId): number {
    const base = this.#base.serviceTaskCount(node, service);
    const index = this.#index.get(node);
    return index === undefined ? base : base + (this.#added.get(service)?.get(index) ?? 0);
  }

  serviceTaskNodes(service: ServiceId): ReadonlyMap<NodeId, number> {
    const added = this.#added.get(service);
    const base = this.#base.serviceTaskNodes(service);
    if (added === undefined) return base;
    const nodes = new Map(base);
    for (const [index, count] of added) {
      const node = this.nodeList[index]!.id;
      nodes.set(node, (nodes.get(node) ?? 0) + count);
    }
    return nodes;
  }

  hostPortInUse(node: NodeId, protocol: PortProtocol, port: number): boolean {
    return this.#addedPorts.has(portKey(node, protocol, port)) || this.#base.hostPortInUse(node, protocol, port);
  }

  volumeNode(name: string): NodeId | null | undefined {
    const base = this.#base.volumeNode(name);
    if (base === undefined) return undefined;
    return base ?? this.#boundVolumes.get(name) ?? null;
  }
}

const portKey = (node: NodeId, protocol: PortProtocol, port: number): string => `${node}/${protocol}/${port}`;
