// Slot maintenance, shared by replicated services (a slot is 1..replicas) and global services (a
// slot is a node): exactly one live task per slot, replaced by the restart policy when it ends, moved
// off down and drained nodes, and replaced batch by batch during a rolling update (stop-first or
// start-first, `parallelism` slots at a time, `delay` between batches, failure ratio checked with
// its action), and, in a replicated slot, a rebalancing move carried out start-first like an update
// (rebalance.ts decides it). Everything is derived from the store on every pass: a new leader
// continues an update or a move exactly where the old one left it, and nothing is done twice.

import { isTerminal, type StateView } from '../state/index.ts';
import type { NewTask } from '../state/commands.ts';
import type { ClusterNode, CommandShutdownCause, NodeId, Service, Task, TaskId, UpdateConfig } from '../state/types.ts';
import type { ReconcileInput } from './config.ts';
import type { Plan } from './plan.ts';
import { endedOnItsOwn, restartDecision } from './restart.ts';

// A pass visits every slot of every service, so the per-slot path allocates little and creates no
// closures (under tsx every named closure also costs a defineProperty of its name).
export interface Slot {
  readonly key: string;
  /** All tasks of the slot, oldest first. */
  readonly tasks: readonly Task[];
  /** Replicated services: the slot number; global: null. */
  readonly slot: number | null;
  /** Global services: the node the slot stands for; replicated: null (the scheduler assigns). */
  readonly nodeId: NodeId | null;
}

/** The task to create when the slot needs one. */
export function newTask(service: Service, slot: Slot, id: string, restartCount: number): NewTask {
  return { id: id as TaskId, serviceId: service.id, slot: slot.slot, nodeId: slot.nodeId, specVersion: service.specVersion, restartCount };
}

const notStarted: ReadonlySet<string> = new Set(['new', 'pending', 'assigned', 'starting']);
const isLive = (t: Task) => t.desiredState === 'running' && !isTerminal(t.observedState);
const isRunning = (t: Task) => t.observedState === 'running';
const newest = (ts: readonly Task[]) => ts[ts.length - 1]!;

/** The update being carried out, if any: its config and whether it is a rollback. */
export function activeUpdate(service: Service): { config: UpdateConfig; rollback: boolean } | null {
  const state = service.updateStatus?.state;
  if (state === 'updating') return { config: service.spec.update, rollback: false };
  if (state === 'rolling-back') return { config: service.spec.rollback, rollback: true };
  return null;
}

/**
 * What maintainSlots saw of a replicated service's slots, for its rebalancing (rebalance.ts), taken
 * in the same look at each slot's tasks. Reused from service to service (reset() first); its node
 * list keeps its room, so a pass allocates nothing here once the largest service has been seen.
 */
export class SlotTally {
  /** The node of each converged slot's one task, and of each stopping slot's running task: the first `nodeCount`. */
  readonly nodes: ClusterNode[] = [];
  nodeCount = 0;
  /** Moves in flight before their replacement runs (or in the pass it does): older task, then newer, pair after pair. */
  readonly pairs: Task[] = [];
  /** Slots running one task while a move stops another (the task it replaced, or a withdrawn replacement). */
  stopping = 0;
  /** Slots in any other state than converged (one live task, running the current spec version, nothing else not ended), stopping or moving. */
  unsettled = 0;

  reset(): void {
    this.nodeCount = 0;
    if (this.pairs.length > 0) this.pairs.length = 0;
    this.stopping = 0;
    this.unsettled = 0;
  }
}

/**
 * Keep each slot healthy. Returns the slots whose only live task runs an older spec version, which
 * the update controller may replace. `tally`: filled for rebalancing (replicated services only).
 */
export function maintainSlots(state: StateView, service: Service, slots: readonly Slot[], input: ReconcileInput, plan: Plan, tally: SlotTally | null = null): Slot[] {
  const outdated: Slot[] = [];
  const startFirst = activeUpdate(service)?.config.order === 'start-first';
  const moves = input.config.rebalance;
  for (const slot of slots) {
    const live: Task[] = [];
    let node: ClusterNode | null = null;
    // Not ended, asked to stop: by a move (1), for any other reason (2).
    let stopping = 0;
    for (const t of slot.tasks) {
      if (t.desiredState !== 'running') {
        if (tally !== null && !isTerminal(t.observedState)) stopping |= t.shutdownCause === 'rebalance' ? 1 : 2;
        continue;
      }
      if (isTerminal(t.observedState)) continue;
      const on = stayingOn(state, t, plan);
      if (on === undefined) continue;
      node = on;
      live.push(t);
    }
    if (live.length === 0) {
      if (tally !== null) tally.unsettled++;
      refill(service, slot, input, plan);
      continue;
    }
    const move = moves && live.length === 2 && slot.slot !== null ? keptInMove(live, service.specVersion) : null;
    // Planted bug doubleSlot: the one-live-task-per-slot check is off by one, so a second task stays.
    const keep = input.config.bugs.doubleSlot && live.length === 2 ? live : move ?? chooseKept(live, service.specVersion, startFirst);
    if (keep !== live) for (const t of live) if (!keep.includes(t)) plan.shutdown(t.id, move !== null ? 'rebalance' : droppedCause(t, keep, service.specVersion));
    if (noneOfVersion(keep, service.specVersion)) outdated.push(slot);
    if (tally !== null) tallySlot(tally, live, keep === live && move === null ? node : null, move !== null, stopping);
  }
  return outdated;
}

/** `settledOn`: the node of the slot's one live task when maintainSlots keeps it as it is (running, current). */
function tallySlot(tally: SlotTally, live: Task[], settledOn: ClusterNode | null, moving: boolean, stopping: number): void {
  if (stopping > 1) {
    tally.unsettled++;
  } else if (moving) {
    tally.pairs.push(live[0]!, live[1]!);
  } else if (settledOn === null || live.length !== 1) {
    tally.unsettled++;
  } else {
    if (stopping === 1) tally.stopping++;
    tally.nodes[tally.nodeCount++] = settledOn;
  }
}

function noneOfVersion(tasks: readonly Task[], specVersion: number): boolean {
  for (const t of tasks) if (t.specVersion === specVersion) return false;
  return true;
}

/**
 * Orphan a task whose node is gone or down, drain one off a drained node: then undefined (it
 * leaves). Otherwise the node it stays on, null while it has none.
 */
function stayingOn(state: StateView, task: Task, plan: Plan): ClusterNode | null | undefined {
  if (task.nodeId === null) return null;
  const node = state.node(task.nodeId);
  if (node === null || node.status === 'down') {
    plan.orphan(task.id, node === null ? `node ${task.nodeId} was removed` : `node ${node.id} is down`);
    return undefined;
  }
  if (node.availability === 'drain') {
    plan.shutdown(task.id, 'drain');
    return undefined;
  }
  return node;
}

/**
 * Which live tasks of a slot stay: one, except during a start-first update where a new-version task
 * that has not started yet keeps the old running one beside it until it runs. Returns `live` itself
 * when all of it stays (the settled slot: one current task, running).
 */
function chooseKept(live: Task[], specVersion: number, startFirst: boolean): Task[] {
  if (live.length === 1 && live[0]!.specVersion === specVersion && isRunning(live[0]!)) return live;
  const current = live.filter((t) => t.specVersion === specVersion);
  const currentRunning = current.find(isRunning);
  if (currentRunning) return [currentRunning];
  if (current.length > 0) {
    const oldRunning = live.filter((t) => t.specVersion !== specVersion && isRunning(t));
    return startFirst && oldRunning.length > 0 ? [newest(current), newest(oldRunning)] : [newest(current)];
  }
  const anyRunning = live.filter(isRunning);
  return [anyRunning.length > 0 ? newest(anyRunning) : newest(live)];
}

/**
 * A rebalancing move in a replicated slot (rebalance.ts): a running task and a newer one of the same,
 * current spec version, its replacement. While the replacement starts both stay (start-first); once
 * it runs, it alone stays and the other is shut down (cause rebalance). Null for any other pair.
 * With rebalancing off such a pair is two live tasks in one slot, and one of them goes as a duplicate.
 */
function keptInMove(live: Task[], specVersion: number): Task[] | null {
  const [older, newer] = live as [Task, Task];
  if (older.specVersion !== specVersion || newer.specVersion !== specVersion || !isRunning(older)) return null;
  return isRunning(newer) ? [newer] : live;
}

/**
 * Why a live task the slot does not keep is shut down: an older version beside a kept task of the
 * current one is being replaced by the update (a start-first replacement that runs now); anything
 * else is one live task too many.
 */
function droppedCause(task: Task, keep: readonly Task[], specVersion: number): CommandShutdownCause {
  return task.specVersion !== specVersion && !noneOfVersion(keep, specVersion) ? 'update' : 'duplicate';
}

function refill(service: Service, slot: Slot, input: ReconcileInput, plan: Plan): void {
  const ended = slot.tasks.filter((t) => isTerminal(t.observedState) || t.desiredState === 'shutdown');
  if (ended.length === 0) {
    plan.create(newTask(service, slot, input.newId('t'), 0));
    return;
  }
  const finished = ended.filter((t) => isTerminal(t.observedState));
  if (finished.length === 0) {
    // Being shut down (drain, update, node trouble): its replacement starts now.
    plan.create(newTask(service, slot, input.newId('t'), ended[ended.length - 1]!.restartCount));
    return;
  }
  const decision = restartDecision(service.spec.restartPolicy, finished, input.nowUs, input.config);
  if (decision.replace && decision.atUs <= input.nowUs) plan.create(newTask(service, slot, input.newId('t'), decision.restartCount));
}

/** One step of a rolling update over the outdated slots (after maintainSlots). */
export function progressUpdate(service: Service, slots: readonly Slot[], outdated: readonly Slot[], input: ReconcileInput, plan: Plan): void {
  const update = activeUpdate(service);
  if (update === null) return;
  const { config } = update;
  const total = slots.length;
  const since = service.updateStatus!.startedAtUs;
  const newTasks = slots.flatMap((s) => s.tasks).filter((t) => t.specVersion === service.specVersion && t.createdAtUs >= since);
  const failures = newTasks.filter((t) => endedOnItsOwn(t) && t.observedState !== 'complete').length;
  // Planted bug ignoreMaxFailureRatio: the failures are never compared with the ratio.
  if (!input.config.bugs.ignoreMaxFailureRatio && total > 0 && failures / total > config.maxFailureRatio && config.failureAction !== 'continue') {
    failUpdate(service, update.rollback || config.failureAction === 'pause', failures, total, input, plan);
    return;
  }
  const inProgress = slots.filter((s) => slotInProgress(s, service.specVersion)).length;
  if (outdated.length === 0) {
    if (inProgress === 0 && monitorOver(newTasks, config, input.nowUs)) completeUpdate(service, update.rollback, input, plan);
    return;
  }
  // Planted bug ignoreParallelism: a batch starts while the previous one is still in progress.
  if ((inProgress > 0 && !input.config.bugs.ignoreParallelism) || !delayOver(newTasks, config, input.nowUs)) return;
  const parallelism = config.parallelism === 0 ? outdated.length : config.parallelism;
  for (const slot of outdated.slice(0, parallelism)) {
    const old = slot.tasks.filter(isLive);
    if (config.order === 'stop-first') for (const t of old) plan.shutdown(t.id, 'update');
    plan.create(newTask(service, slot, input.newId('t'), old[old.length - 1]?.restartCount ?? 0));
  }
}

/**
 * An updated slot not yet settled: its new task has not started, its old task still stops, or the
 * update took its last live task down and the replacement is still to come (its creation lost with
 * a leader, or the old task failed before it stopped and waits out a restart delay): such a slot is
 * down, and the next batch must wait for it.
 */
function slotInProgress(slot: Slot, specVersion: number): boolean {
  const older = slot.tasks.filter((t) => t.specVersion !== specVersion);
  if (older.length === 0) return false;
  const stopping = older.some((t) => t.desiredState === 'shutdown' && !isTerminal(t.observedState));
  const starting = slot.tasks.some((t) => t.specVersion === specVersion && isLive(t) && notStarted.has(t.observedState));
  return stopping || starting || (newest(slot.tasks).shutdownCause === 'update' && !slot.tasks.some(isLive));
}

function lastStartUs(newTasks: readonly Task[]): number {
  let last = 0;
  for (const t of newTasks) if (t.observedState === 'running' && t.updatedAtUs > last) last = t.updatedAtUs;
  return last;
}

function delayOver(newTasks: readonly Task[], config: UpdateConfig, nowUs: number): boolean {
  return newTasks.length === 0 || nowUs >= lastStartUs(newTasks) + config.delayMs * 1000;
}

function monitorOver(newTasks: readonly Task[], config: UpdateConfig, nowUs: number): boolean {
  return nowUs >= lastStartUs(newTasks) + config.monitorMs * 1000;
}

function failUpdate(service: Service, pause: boolean, failures: number, total: number, input: ReconcileInput, plan: Plan): void {
  const message = `${failures} of ${total} updated tasks failed, above the allowed failure ratio`;
  if (pause) {
    plan.other.push({ type: 'service-set-update-status', id: service.id, specVersion: service.specVersion, state: 'paused', message, atUs: input.nowUs });
  } else {
    plan.other.push({ type: 'service-rollback', id: service.id, version: service.version, message: `rolled back: ${message}`, atUs: input.nowUs });
    plan.dropCreatesOf(service.id);
  }
}

function completeUpdate(service: Service, rollback: boolean, input: ReconcileInput, plan: Plan): void {
  plan.other.push({
    type: 'service-set-update-status', id: service.id, specVersion: service.specVersion, state: rollback ? 'rolled-back' : 'completed',
    message: rollback ? 'rollback completed' : 'update completed', atUs: input.nowUs,
  });
}
