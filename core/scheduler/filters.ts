// The scheduler's filters, in the order their reasons are reported: the node a batch is pinned to
// (a global task's node, a bound volume's node), availability, status, constraints, resources, host
// ports. Each filter that leaves no node yields the reason an operator reads, naming what ruled the
// nodes out. Node eligibility (the first four) is fixed for a batch; resources and ports change as
// tasks are placed, so they are checked on the batch's mutable NodeStates.

import type { ClusterNode, NodeId, PortProtocol, Resources, ServiceId, ServiceSpec } from '../state/types.ts';
import { attributeValue, matches, matchesAll } from './constraints.ts';
import type { Constraint, SpreadPreference } from './constraints.ts';
import type { SchedulerView } from './view.ts';

export interface HostPort {
  readonly protocol: PortProtocol;
  readonly port: number;
}

/** What a batch needs of its service, parsed once. */
export interface BatchContext {
  readonly view: SchedulerView;
  readonly spec: ServiceSpec;
  readonly constraints: readonly Constraint[];
  readonly preferences: readonly SpreadPreference[];
  readonly reservations: Resources;
  /** Host-mode published ports, deduplicated, in spec order. */
  readonly hostPorts: readonly HostPort[];
  readonly bugs: SchedulerBugs;
}

/** Plantable bugs of the scheduler, for the chaos suites only (core/reconciler's OrchestrationBugs carries them). */
export interface SchedulerBugs {
  /** A drained node counts as active: new tasks are placed on it. */
  readonly scheduleOnDrained: boolean;
}

export const noSchedulerBugs: SchedulerBugs = { scheduleOnDrained: false };

/** Why a batch may only use one node. */
export type Pin =
  | { readonly cause: 'global'; readonly nodeId: NodeId }
  | { readonly cause: 'volume'; readonly nodeId: NodeId; readonly volume: string };

/** A node's standing during one batch; placements update it. */
export interface NodeState {
  readonly node: ClusterNode;
  freeCpuMillis: number;
  freeMemoryBytes: number;
  /** Tasks of the batch's service holding the node. */
  serviceTasks: number;
  totalTasks: number;
  /** Tasks this batch placed on the node. */
  placedInBatch: number;
  /** Per spread preference, the key of the node's group (its values so far, encoded). */
  readonly groupPaths: readonly string[];
}

export type Filtered = { readonly nodes: readonly ClusterNode[] } | { readonly reason: string };

export function hostPortsOf(spec: ServiceSpec): readonly HostPort[] {
  const ports: HostPort[] = [];
  for (const port of spec.ports) {
    if (port.mode !== 'host' || port.published === 0) continue;
    if (ports.some((p) => p.port === port.published && p.protocol === port.protocol)) continue;
    ports.push({ protocol: port.protocol, port: port.published });
  }
  return ports;
}

export function newNodeState(context: BatchContext, node: ClusterNode, serviceId: ServiceId): NodeState {
  const reserved = context.view.reserved(node.id);
  let path = '';
  const groupPaths = context.preferences.map((preference) => {
    // Length-prefixed, so no label value can make two different paths equal; '-' = no such label.
    const value = attributeValue(preference.attribute, node);
    path += value === null ? '-' : `${value.length}:${value}`;
    return path;
  });
  return {
    node,
    freeCpuMillis: node.resources.cpuMillis - reserved.cpuMillis,
    freeMemoryBytes: node.resources.memoryBytes - reserved.memoryBytes,
    serviceTasks: context.view.serviceTaskCount(node.id, serviceId),
    totalTasks: context.view.taskCount(node.id),
    placedInBatch: 0,
    groupPaths,
  };
}

/** The node with this id, by binary search over the view's sorted nodes. */
export function findNode(view: SchedulerView, id: NodeId): ClusterNode | undefined {
  const nodes = view.nodes();
  let low = 0;
  let high = nodes.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const candidate = nodes[middle]!;
    if (candidate.id === id) return candidate;
    if (candidate.id < id) low = middle + 1;
    else high = middle - 1;
  }
  return undefined;
}

/** `node n3 is drained` or `volume data is on node n3, which is drained`. */
function pinned(pin: Pin, predicate: string): string {
  return pin.cause === 'global' ? `node ${pin.nodeId} ${predicate}` : `volume ${pin.volume} is on node ${pin.nodeId}, which ${predicate}`;
}

function pinPlace(pin: Pin): string {
  return pin.cause === 'global' ? `node ${pin.nodeId}` : `node ${pin.nodeId} (where volume ${pin.volume} is)`;
}

const availabilityWords = { active: 'is active', pause: 'is paused', drain: 'is drained' } as const;
const statusWords = { ready: 'is ready', down: 'is down', unknown: 'has status unknown' } as const;

function tally(words: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
  return [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([word, count]) => `${count} ${word}`).join(', ');
}

/** The nodes passing the fixed filters (pin, availability, status, constraints), or why none does. */
export function eligibleNodes(context: BatchContext, pin: Pin | null): Filtered {
  let nodes: readonly ClusterNode[];
  if (pin !== null) {
    const node = findNode(context.view, pin.nodeId);
    if (node === undefined) return { reason: pinned(pin, 'is not in the cluster') };
    nodes = [node];
  } else {
    nodes = context.view.nodes();
    if (nodes.length === 0) return { reason: 'no node in the cluster' };
  }
  const drainedActive = context.bugs.scheduleOnDrained;
  const active = nodes.filter((node) => node.availability === 'active' || (drainedActive && node.availability === 'drain'));
  if (active.length === 0) {
    return { reason: pin !== null ? pinned(pin, availabilityWords[nodes[0]!.availability]) : `no node is active (${tally(nodes.map((n) => (n.availability === 'drain' ? 'drained' : 'paused')))})` };
  }
  const ready = active.filter((node) => node.status === 'ready');
  if (ready.length === 0) {
    return { reason: pin !== null ? pinned(pin, statusWords[active[0]!.status]) : `no active node is ready (${tally(active.map((n) => (n.status === 'down' ? 'down' : 'status unknown')))})` };
  }
  let eligible = ready;
  for (let k = 0; k < context.constraints.length; k++) {
    const constraint = context.constraints[k]!;
    eligible = eligible.filter((node) => matches(constraint, node));
    if (eligible.length > 0) continue;
    if (pin !== null) return { reason: pinned(pin, `does not satisfy constraint ${constraint.text}`) };
    if (k === 0 || !ready.some((node) => matches(constraint, node))) {
      return { reason: `no node satisfies constraint ${constraint.text}` };
    }
    const together = context.constraints.slice(0, k + 1).map((c) => c.text).join(', ');
    return { reason: `no node satisfies constraints ${together} together` };
  }
  return { nodes: eligible };
}

/** Whether the node is eligible for the service at all (the fixed filters, without a pin). */
export function nodeEligible(node: ClusterNode, constraints: readonly Constraint[]): boolean {
  return node.availability === 'active' && node.status === 'ready' && matchesAll(constraints, node);
}

function fitsResources(context: BatchContext, state: NodeState): boolean {
  return state.freeCpuMillis >= context.reservations.cpuMillis && state.freeMemoryBytes >= context.reservations.memoryBytes;
}

/** A port is taken on a node if a task holding it publishes the port, or this batch placed one there. */
function portTaken(context: BatchContext, state: NodeState, port: HostPort): boolean {
  return state.placedInBatch > 0 || context.view.hostPortInUse(state.node.id, port.protocol, port.port);
}

/** Whether one more task of the batch fits on the node now. */
export function fits(context: BatchContext, state: NodeState): boolean {
  if (!fitsResources(context, state)) return false;
  for (const port of context.hostPorts) if (portTaken(context, state, port)) return false;
  return true;
}

/** Why no state fits (resources first, then ports). Call only when none does. */
export function explainNoFit(context: BatchContext, states: readonly NodeState[], pin: Pin | null): string {
  const needs = context.reservations;
  const place = pin === null ? null : pinPlace(pin);
  const mostFree = (pick: (state: NodeState) => number): number => Math.max(0, ...states.map(pick));
  if (!states.some((state) => state.freeMemoryBytes >= needs.memoryBytes)) {
    const free = formatMemory(mostFree((state) => state.freeMemoryBytes), 'down');
    return place === null
      ? `insufficient memory: needs ${formatMemory(needs.memoryBytes, 'up')}, most free on any eligible node is ${free}`
      : `insufficient memory on ${place}: needs ${formatMemory(needs.memoryBytes, 'up')}, ${free} free`;
  }
  if (!states.some((state) => state.freeCpuMillis >= needs.cpuMillis)) {
    const free = formatCpu(mostFree((state) => state.freeCpuMillis));
    return place === null
      ? `insufficient cpu: needs ${formatCpu(needs.cpuMillis)}, most free on any eligible node is ${free}`
      : `insufficient cpu on ${place}: needs ${formatCpu(needs.cpuMillis)}, ${free} free`;
  }
  const roomy = states.filter((state) => fitsResources(context, state));
  if (roomy.length === 0) {
    return `insufficient resources: no eligible node has both ${formatCpu(needs.cpuMillis)} and ${formatMemory(needs.memoryBytes, 'up')} free`;
  }
  for (const port of context.hostPorts) {
    if (roomy.every((state) => portTaken(context, state, port))) {
      const name = `${port.port}/${port.protocol}`;
      if (place !== null) return `host port ${name} is in use on ${place}`;
      const everywhere = roomy.length === states.length || states.every((state) => portTaken(context, state, port));
      return `host port ${name} is in use on every eligible node${everywhere ? '' : ' with room for the task'}`;
    }
  }
  const names = context.hostPorts.map((port) => `${port.port}/${port.protocol}`).join(', ');
  return `host ports ${names}: no eligible node with room for the task has all of them free`;
}

const mebibyte = 1024 * 1024;

/** Bytes in MiB to one decimal, rounded so that a shortfall never prints as enough. */
export function formatMemory(bytes: number, rounding: 'up' | 'down'): string {
  const tenths = (bytes * 10) / mebibyte;
  const rounded = (rounding === 'up' ? Math.ceil(tenths) : Math.floor(tenths)) / 10;
  return `${rounded} MiB`;
}

/** Thousandths of a core as CPUs, e.g. `1.5 CPUs`, `1 CPU`. */
export function formatCpu(cpuMillis: number): string {
  const cpus = cpuMillis / 1000;
  return `${cpus} ${cpus === 1 ? 'CPU' : 'CPUs'}`;
}
