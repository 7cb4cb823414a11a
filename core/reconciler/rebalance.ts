// Rebalancing of replicated services. A service is converged when no update or rollback is under
// way, every slot runs one task of its current spec version, and nothing else of it is live; if its
// tasks are then uneven over the nodes eligible for it, a slot on the fullest node is moved: a
// replacement of the same spec version is created, the scheduler places it like any new task (on
// the emptiest node), and once it runs the old task is shut down (cause `rebalance`). Start-first,
// as a rolling update replaces a slot (slots.ts keeps both while the replacement starts), so the
// service never runs fewer tasks than its replicas. Which moves, and where to: the scheduler's
// rebalancer (core/scheduler/rebalance.ts); each move strictly narrows the spread of the counts, so
// a service whose counts are all within one of each other never moves.
// Bounds: at most `rebalanceParallelism` moves in flight per service, counted from the replacement's
// creation until the task it replaces (or a withdrawn replacement) has stopped; nothing moves until
// every eligible node has been unchanged for `rebalanceCooldownUs`, nor within that cool-down of a
// move that did not complete; global services never move; off by config (`rebalance`).
// A replacement that landed where it does not narrow the spread (the cluster changed between the
// pass that created it and the one that placed it), on a node that is not settled, or that cannot
// be placed at all, is withdrawn (shut down, cause `rebalance`) and the cool-down holds.
// Everything is derived from the store in each pass, so a new leader carries on a move where the old
// one left it. Cost: maintainSlots notes each converged slot's node as it looks at the slot anyway
// (SlotTally); a service none of whose nodes runs two of its tasks is then done with (the idle
// pass), and one with more tasks than nodes is most often cleared by the scheduler's quick test.

import { Rebalancer } from '../scheduler/index.ts';
import { isTerminal, type StateView } from '../state/index.ts';
import type { ClusterNode, NodeId, Service, Task } from '../state/types.ts';
import type { ReconcileInput } from './config.ts';
import type { Plan } from './plan.ts';
import { newTask, SlotTally, type Slot } from './slots.ts';
import type { StoreSchedulerView } from './view.ts';

/** Below this many converged slots, a node holding two of them is found by comparing each pair. */
const pairwiseMaxSlots = 16;

/** The rebalancing of one pass: the scheduler's rebalancer over the pass's view, and scratch space. */
export class RebalancePass {
  /** What maintainSlots saw of the service being reconciled: its slots, in one look at their tasks. */
  readonly tally = new SlotTally();
  readonly #rebalancer: Rebalancer;
  readonly #settled: (node: ClusterNode) => boolean;

  constructor(private readonly state: StateView, view: StoreSchedulerView, private readonly input: ReconcileInput) {
    this.#rebalancer = new Rebalancer(view, input.config.bugs);
    const { nowUs, config } = input;
    this.#settled = (node) => nowUs - node.updatedAtUs >= config.rebalanceCooldownUs;
  }

  /**
   * Whether the service the tally was filled for needs a closer look: a move in flight, or, all its
   * slots converged, a node holding two of its tasks. Otherwise its counts are within one of each
   * other whatever the other nodes hold (the idle pass), or it is not converged: nothing to do.
   */
  wanted(): boolean {
    const tally = this.tally;
    return tally.pairs.length > 0 || (tally.unsettled === 0 && crowded(tally.nodes, tally.nodeCount));
  }

  /**
   * One replicated service, once maintainSlots has filled the tally for it and wanted() said yes:
   * with no update or rollback under way and no live task beyond its replicas (the caller checks
   * both). This pass's decisions for its slots are already in `plan`.
   */
  service(service: Service, slots: readonly Slot[], plan: Plan): void {
    if (service.spec.mounts.length > 0) return;
    const tally = this.tally;
    const inFlight = tally.pairs.length > 0;
    // Crowded but even (more tasks than nodes): the scheduler's quick test says so without counting.
    if (!inFlight && !this.#rebalancer.quick(service, tally.nodes, tally.nodeCount)) return;
    const counts = this.#counts();
    let held = tally.unsettled > 0;
    if (inFlight && this.#checkInFlight(counts, plan)) held = true;
    const moving = tally.pairs.length / 2 + tally.stopping;
    const { config } = this.input;
    if (held || moving >= config.rebalanceParallelism) return;
    // Planted bug noRebalance: the rebalancer never starts a move.
    if (config.bugs.noRebalance) return;
    const converged = slots.filter((slot) => convergedTask(slot) !== null);
    if (this.#recentlyFailedMove(converged)) return;
    const moves = this.#rebalancer.moves(service, counts, config.rebalanceParallelism - moving, this.#settled);
    if (moves.length > 0) this.#start(service, converged, moves.map((m) => m.from), plan);
  }

  /** The service's live assigned tasks per node: the converged and stopping slots' and both tasks of each move in flight. */
  #counts(): Map<NodeId, number> {
    const counts = new Map<NodeId, number>();
    const { nodes, nodeCount } = this.tally;
    for (let i = 0; i < nodeCount; i++) add(counts, nodes[i]!.id);
    for (const t of this.tally.pairs) if (t.nodeId !== null) add(counts, t.nodeId);
    return counts;
  }

  /**
   * Some converged slot's newest task is a replacement that did not complete (it failed, or was
   * withdrawn) beside the task the slot runs, within the cool-down. Only a move leaves a task of
   * the slot's spec version newer than the one a slot runs: a restart starts a new task only once
   * the old one is gone, and an update's replacement runs another spec version.
   */
  #recentlyFailedMove(converged: readonly Slot[]): boolean {
    const { nowUs, config } = this.input;
    for (const slot of converged) {
      const kept = convergedTask(slot)!;
      const newest = slot.tasks[slot.tasks.length - 1]!;
      if (newest === kept || newest.specVersion !== kept.specVersion) continue;
      if (nowUs < (newest.shutdownAtUs ?? newest.updatedAtUs) + config.rebalanceCooldownUs) return true;
    }
    return false;
  }

  /**
   * Withdraws the replacements in flight that cannot be placed, or were placed where they do not
   * narrow the spread. Then, unless one was withdrawn or is still to be placed (true: no new move
   * in this pass), takes each move's source task out of `counts`, which become the counts the
   * moves in flight leave.
   */
  #checkInFlight(counts: Map<NodeId, number>, plan: Plan): boolean {
    const pairs = this.tally.pairs;
    let held = false;
    for (let i = 0; i < pairs.length; i += 2) {
      const older = pairs[i]!;
      const newer = pairs[i + 1]!;
      // A replacement that runs has done its part: maintainSlots shuts the older task down in this pass.
      if (newer.observedState === 'running') continue;
      if (newer.nodeId === null) {
        held = true;
        if (newer.observedState === 'pending') plan.shutdown(newer.id, 'rebalance');
      } else if (!this.#narrows(counts, newer.nodeId, older.nodeId!)) {
        held = true;
        plan.shutdown(newer.id, 'rebalance');
      }
    }
    if (!held) for (let i = 0; i < pairs.length; i += 2) add(counts, pairs[i]!.nodeId!, -1);
    return held;
  }

  /** A replacement on `to` for a task on `from` narrows the spread when `to`, counting it, still holds fewer than `from`; and only onto a settled node. */
  #narrows(counts: ReadonlyMap<NodeId, number>, to: NodeId, from: NodeId): boolean {
    const node = this.state.node(to);
    return node !== null && this.#settled(node) && (counts.get(to) ?? 0) < (counts.get(from) ?? 0);
  }

  /** A replacement for one converged slot on each source node given (the highest slots first). */
  #start(service: Service, converged: readonly Slot[], sources: NodeId[], plan: Plan): void {
    for (let i = converged.length - 1; i >= 0 && sources.length > 0; i--) {
      const task = convergedTask(converged[i]!)!;
      const at = sources.indexOf(task.nodeId!);
      if (at < 0) continue;
      sources.splice(at, 1);
      plan.create(newTask(service, converged[i]!, this.input.newId('t'), task.restartCount));
    }
  }
}

/** A converged slot's task: its only one not ended, wanted and running (at the current spec version, as the caller knows). */
function convergedTask(slot: Slot): Task | null {
  let sole: Task | null = null;
  for (const t of slot.tasks) {
    if (isTerminal(t.observedState)) continue;
    if (sole !== null) return null;
    sole = t;
  }
  return sole !== null && sole.desiredState === 'running' && sole.observedState === 'running' ? sole : null;
}

function add(counts: Map<NodeId, number>, node: NodeId, delta = 1): void {
  counts.set(node, (counts.get(node) ?? 0) + delta);
}

/** Whether some node appears twice among the first `count` (node objects are the store's: one per node). */
function crowded(nodes: readonly ClusterNode[], count: number): boolean {
  if (count > pairwiseMaxSlots) return new Set(nodes.slice(0, count)).size < count;
  for (let i = 1; i < count; i++) for (let j = 0; j < i; j++) if (nodes[i] === nodes[j]) return true;
  return false;
}
