// Rebalancing a replicated service over the nodes eligible for it: which moves (one task from a
// node to another) even out how many of its tasks each node runs. Pure: a function of the
// scheduler's view, the service, and where its tasks will be once the moves in flight complete.
// The target of a move is the node the scheduler would place one more of the service's tasks on
// (the same filters and the same score as candidates.ts and pass.ts: fewest of its tasks, then its
// spread groups, then fewest tasks in all, then most free memory, then id), so the replacement,
// which the scheduler places like any new task, goes there; the source is the eligible node that
// ranks worst by that score (most of its tasks, then the most crowded spread groups, and so on).
// Invariants: a move is proposed only while its source holds at least two more of the service's
// tasks than its target, so every move strictly narrows the spread of the counts (its target never
// ends up fuller than its source was) and a service whose counts are all within one of each other
// never moves: nothing flaps. Only eligible nodes (active, ready, constraints) count, as sources
// and as targets; a target must have room for one more task (resources, host ports); a service
// with volumes never moves (its tasks stay with their data); and nothing moves while any eligible
// node is unsettled (the caller's cool-down): the scheduler would place the replacement on a node
// that has only just come back.

import type { ClusterNode, NodeId, Service } from '../state/types.ts';
import { parseConstraints } from './constraints.ts';
import { leafBefore } from './candidates.ts';
import { eligibleNodes, fits, newNodeState, noSchedulerBugs, type BatchContext, type Filtered, type NodeState, type SchedulerBugs } from './filters.ts';
import { batchContext } from './scheduler.ts';
import type { SchedulerView } from './view.ts';

export interface RebalanceMove {
  readonly from: NodeId;
  readonly to: NodeId;
}

/** Bound on distinct constraint lists whose eligible nodes one Rebalancer keeps. */
const maxCachedLists = 4096;

/** The nodes eligible for one constraint list, as a list and as a set of the view's node objects. */
type Eligible = { readonly nodes: readonly ClusterNode[]; readonly set: ReadonlySet<ClusterNode> } | { readonly reason: string };

/** Below this many tasks, quick() counts them per node by comparing each pair. */
const pairwiseMaxTasks = 16;

/** One per reconcile pass: the eligible nodes of each constraint list are filtered once. */
export class Rebalancer {
  readonly #view: SchedulerView;
  readonly #bugs: SchedulerBugs;
  readonly #eligible = new Map<string, Eligible>();
  /** Scratch for quick(): distinct nodes and how many tasks each. */
  readonly #holders: ClusterNode[] = [];
  readonly #held: number[] = [];

  constructor(view: SchedulerView, bugs: SchedulerBugs = noSchedulerBugs) {
    this.#view = view;
    this.#bugs = bugs;
  }

  /**
   * Up to `maxMoves` moves for the service, each planned on the counts the ones before it leave.
   * `counts`: the service's tasks per node once the moves in flight complete (nodes absent hold
   * none). `settled`: whether a node has been unchanged long enough to take part.
   */
  moves(service: Service, counts: ReadonlyMap<NodeId, number>, maxMoves: number, settled: (node: ClusterNode) => boolean): RebalanceMove[] {
    if (service.spec.mode.type !== 'replicated' || service.spec.mounts.length > 0 || maxMoves <= 0) return [];
    const context = batchContext(this.#view, service, this.#bugs);
    if ('reason' in context) return [];
    const eligible = this.#eligibleFor(service);
    if ('reason' in eligible) return [];
    for (const node of eligible.nodes) if (!settled(node)) return [];
    const states = eligible.nodes.map((node) => {
      const state = newNodeState(context, node, service.id);
      state.serviceTasks = counts.get(node.id) ?? 0;
      return state;
    });
    const groupTasks = new Map<string, number>();
    for (const state of states) for (const path of state.groupPaths) groupTasks.set(path, (groupTasks.get(path) ?? 0) + state.serviceTasks);
    const moves: RebalanceMove[] = [];
    while (moves.length < maxMoves) {
      let source: NodeState | null = null;
      let target: NodeState | null = null;
      for (const state of states) {
        if (state.serviceTasks > 0 && (source === null || order(state, source, groupTasks) > 0)) source = state;
        if (fits(context, state) && (target === null || order(state, target, groupTasks) < 0)) target = state;
      }
      if (source === null || target === null || source.serviceTasks - target.serviceTasks < 2) break;
      moves.push({ from: source.node.id, to: target.node.id });
      count(source, -1, groupTasks);
      count(target, 1, groupTasks);
      take(context, target);
    }
    return moves;
  }

  /**
   * A quick test, before moves(), on the service's tasks as the view's node objects they run on
   * (one entry per task, the first `count` of `nodes`): false when no move can be found, because
   * every node runs them within one of every other and no eligible node runs none while one runs
   * two. Cheap for a service spread over few nodes, as one with more tasks than nodes is. True when
   * moves() must look (a task on a node that is not eligible, among others).
   */
  quick(service: Service, nodes: readonly ClusterNode[], count: number): boolean {
    const eligible = this.#eligibleFor(service);
    if ('reason' in eligible) return false;
    const holders = this.#holders;
    const held = this.#held;
    let distinct = 0;
    if (count > pairwiseMaxTasks) {
      const tally = new Map<ClusterNode, number>();
      for (let i = 0; i < count; i++) tally.set(nodes[i]!, (tally.get(nodes[i]!) ?? 0) + 1);
      for (const [node, n] of tally) {
        holders[distinct] = node;
        held[distinct++] = n;
      }
    } else {
      for (let i = 0; i < count; i++) {
        let at = 0;
        while (at < distinct && holders[at] !== nodes[i]) at++;
        if (at === distinct) {
          holders[distinct] = nodes[i]!;
          held[distinct++] = 0;
        }
        held[at]!++;
      }
    }
    let most = 0;
    let fewest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < distinct; i++) {
      if (!eligible.set.has(holders[i]!)) return true;
      most = Math.max(most, held[i]!);
      fewest = Math.min(fewest, held[i]!);
    }
    return most - fewest >= 2 || (most >= 2 && eligible.nodes.length > distinct);
  }

  /** The service's eligible nodes, which depend on its constraint list alone: filtered once per list. */
  #eligibleFor(service: Service): Eligible {
    const spec = service.spec;
    const key = spec.placement.constraints.join('\n');
    let eligible = this.#eligible.get(key);
    if (eligible === undefined) {
      const constraints = parseConstraints(spec.placement.constraints);
      let filtered: Filtered;
      if ('message' in constraints) {
        filtered = { reason: constraints.message };
      } else {
        // Eligibility reads only the view, the constraints and the bugs of a batch's context.
        filtered = eligibleNodes({ view: this.#view, spec, constraints, preferences: [], reservations: spec.reservations, hostPorts: [], bugs: this.#bugs }, null);
      }
      eligible = 'reason' in filtered ? filtered : { nodes: filtered.nodes, set: new Set(filtered.nodes) };
      if (this.#eligible.size < maxCachedLists) this.#eligible.set(key, eligible);
    }
    return eligible;
  }
}

/**
 * The scheduler's score, as a comparison: negative when a is the better place for one more task
 * of the service, positive when b is. Ids are unique, so it is a total order.
 */
function order(a: NodeState, b: NodeState, groupTasks: ReadonlyMap<string, number>): number {
  if (a.serviceTasks !== b.serviceTasks) return a.serviceTasks - b.serviceTasks;
  for (let level = 0; level < a.groupPaths.length; level++) {
    const difference = (groupTasks.get(a.groupPaths[level]!) ?? 0) - (groupTasks.get(b.groupPaths[level]!) ?? 0);
    if (difference !== 0) return difference;
  }
  return leafBefore(a, b) ? -1 : 1; // then the in-group part, as the scheduler ranks nodes
}

function count(state: NodeState, delta: number, groupTasks: Map<string, number>): void {
  state.serviceTasks += delta;
  for (const path of state.groupPaths) groupTasks.set(path, (groupTasks.get(path) ?? 0) + delta);
}

/** The replacement's claim on its target (its source keeps its own until the replacement runs). */
function take(context: BatchContext, state: NodeState): void {
  state.freeCpuMillis -= context.reservations.cpuMillis;
  state.freeMemoryBytes -= context.reservations.memoryBytes;
  state.totalTasks++;
  state.placedInBatch++;
}
