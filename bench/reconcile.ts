// `npm run bench -- reconcile`: the cost of one reconcile pass of core/reconciler on a large store.
// The store: 1,000 nodes, 1,000 replicated services x 10 replicas = 10,000 tasks, converged (every
// task assigned and reported running, and a pass proposes nothing). It is built through the
// reconciler itself, with a per-pass bound of a whole batch so it takes a handful of passes.
// 1. Idle: one pass when nothing changed (the leader runs one every tick). The target: under
//    10 ms. Warm-up passes first (not counted), then the median of the counted ones.
// 2. After nodes go down: `nodesDown` nodes (100, evenly spread, 1,000 tasks on them) stop
//    heartbeating. The three passes that follow are each timed on their own (reconcile only), and
//    their commands applied to the store (timed apart): afterNodeDownDetectMs (the pass marking the
//    nodes down), afterNodeDownRescheduleMs (orphaning their tasks and creating the replacements),
//    afterNodeDownPlaceMs (placing the 1,000 replacements: every service's waiting tasks against
//    one scheduler setup, core/scheduler/pass.ts); afterNodeDownMs is the three together. Each run
//    starts from a restore of the converged store's snapshot (warmed by one idle pass, as a
//    leader's store is); medians of the runs.
// Invariants checked: the build converges; every idle pass proposes nothing; each node-down pass
// does exactly its part (every displaced task orphaned and replaced, every replacement placed off
// the down nodes); after the workers report, the store converges again.

import { reconcile, defaultReconcilerConfig, type ReconcileInput, type ReconcilerConfig } from '../core/reconciler/index.ts';
import { ClusterState, isTerminal, restore, snapshot, stateLimits, type StateCommand } from '../core/state/index.ts';
import { createService, register } from '../core/state/testing.ts';
import type { NodeId } from '../core/state/types.ts';
import { gibibytes, mebibytes } from '../core/scheduler/fixtures.ts';
import type { BenchmarkArgs } from './cli.ts';
import { integerParameters } from './parameters.ts';
import { round, timings, type Timing } from './timing.ts';

export interface ReconcileBenchParameters {
  readonly nodes: number;
  readonly services: number;
  readonly replicasPerService: number;
  /** Nodes that stop heartbeating in the node-down measurement. */
  readonly nodesDown: number;
  readonly runs: number;
  readonly warmUpRuns: number;
  /** Node-down runs, each on a fresh restore of the converged store. */
  readonly nodeDownRuns: number;
  readonly nodeDownWarmUpRuns: number;
}

export const defaultReconcileParameters: ReconcileBenchParameters = {
  nodes: 1000,
  services: 1000,
  replicasPerService: 10,
  nodesDown: 100,
  runs: 21,
  warmUpRuns: 10,
  nodeDownRuns: 5,
  nodeDownWarmUpRuns: 2,
};

const zones = ['zone-a', 'zone-b', 'zone-c', 'zone-d', 'zone-e'];
const stepUs = 1_000_000;
/** Bound on passes for the store to converge, per pass-bound's worth of tasks. */
const maxPassesPerBatch = 6;
/** Building uses whole batches per pass; the measured passes use the default config. */
const buildConfig: ReconcilerConfig = { ...defaultReconcilerConfig, maxTasksPerPass: stateLimits.batchItems };

export async function run(args: BenchmarkArgs, overrides: Partial<ReconcileBenchParameters> = {}): Promise<Record<string, unknown>> {
  const parameters = reconcileParameters(overrides);
  const tasks = parameters.services * parameters.replicasPerService;
  args.progress(`reconcile: building ${parameters.nodes} nodes, ${parameters.services} services, ${tasks} tasks`);
  const world = new BenchWorld();
  const buildStartMs = performance.now();
  const buildPasses = build(world, parameters);
  const buildMs = performance.now() - buildStartMs;
  args.progress(`reconcile: idle, ${parameters.warmUpRuns} warm-up + ${parameters.runs} passes`);
  const idle = measureIdle(world, parameters);
  args.progress(`reconcile: ${parameters.nodesDown} nodes down, ${parameters.nodeDownWarmUpRuns} warm-up + ${parameters.nodeDownRuns} runs`);
  const down = measureNodeDown(world, parameters);
  return {
    nodes: parameters.nodes,
    services: parameters.services,
    tasks,
    idleMs: round(idle.medianMs, 2),
    idleMinMs: round(idle.minMs, 2),
    idleMaxMs: round(idle.maxMs, 2),
    targetIdleMs: 10,
    nodesDown: parameters.nodesDown,
    tasksDisplaced: down.tasksDisplaced,
    afterNodeDownMs: round(down.totalMs, 2),
    afterNodeDownDetectMs: round(down.detectMs, 2),
    afterNodeDownDetectCommands: down.detectCommands,
    afterNodeDownRescheduleMs: round(down.rescheduleMs, 2),
    afterNodeDownRescheduleCommands: down.rescheduleCommands,
    afterNodeDownRescheduleApplyMs: round(down.rescheduleApplyMs, 2),
    afterNodeDownTasksOrphaned: down.orphaned,
    afterNodeDownTasksCreated: down.created,
    afterNodeDownPlaceMs: round(down.placeMs, 2),
    afterNodeDownPlaceApplyMs: round(down.placeApplyMs, 2),
    afterNodeDownTasksPlaced: down.placed,
    buildMs: Math.round(buildMs),
    buildPasses,
    runs: parameters.runs,
    warmUpRuns: parameters.warmUpRuns,
    nodeDownRuns: parameters.nodeDownRuns,
  };
}

/** Defaults plus overrides, validated once: integers >= 1 (warm-ups may be 0), nodesDown < nodes. */
export function reconcileParameters(overrides: Partial<ReconcileBenchParameters>): ReconcileBenchParameters {
  const parameters = integerParameters('reconcile', defaultReconcileParameters, overrides, ['warmUpRuns', 'nodeDownWarmUpRuns']);
  if (parameters.nodesDown >= parameters.nodes) {
    throw new RangeError(`reconcile benchmark parameter nodesDown must be below nodes (${parameters.nodes}), got ${parameters.nodesDown}`);
  }
  if (parameters.replicasPerService > stateLimits.replicas) {
    throw new RangeError(`reconcile benchmark parameter replicasPerService must be at most ${stateLimits.replicas}, got ${parameters.replicasPerService}`);
  }
  return parameters;
}

/** The leader's side: the store, virtual time, ids, and when each node was last heard from. */
class BenchWorld {
  state = new ClusterState();
  nowUs = stepUs;
  private nextId = 0;
  /** Nodes that stopped heartbeating, with when they were last heard; the rest are heard now. */
  readonly silentSinceUs = new Map<NodeId, number>();

  input(config: ReconcilerConfig = defaultReconcilerConfig): ReconcileInput {
    return {
      nowUs: this.nowUs,
      newId: (prefix) => `${prefix}-${++this.nextId}`,
      lastSeenUs: (node) => this.silentSinceUs.get(node) ?? this.nowUs,
      leaderSinceUs: 0,
      config,
    };
  }

  applyAll(commands: readonly StateCommand[]): void {
    for (const command of commands) {
      const result = this.state.apply(command);
      if (!result.ok) throw new Error(`${command.type} refused: ${result.error.message}`);
    }
  }

  /** Idealized workers: every assigned task reports starting, then running. */
  reportRunning(): number {
    const reports: StateCommand[] = [];
    for (const task of this.state.tasks()) {
      if (task.desiredState !== 'running' || (task.observedState !== 'assigned' && task.observedState !== 'starting')) continue;
      for (const state of task.observedState === 'assigned' ? (['starting', 'running'] as const) : (['running'] as const)) {
        reports.push({ type: 'task-report', taskId: task.id, state, exitCode: null, message: '', atUs: this.nowUs });
      }
    }
    this.applyAll(reports);
    return reports.length;
  }

  /** Passes (bounded by `config`) and worker reports until a pass proposes nothing; returns the passes. */
  converge(config: ReconcilerConfig, maxPasses: number): number {
    for (let pass = 0; pass < maxPasses; pass++) {
      const commands = reconcile(this.state, this.input(config));
      if (commands.length === 0) return pass;
      this.applyAll(commands);
      this.reportRunning();
      this.nowUs += stepUs;
    }
    throw new Error(`the store did not converge in ${maxPasses} passes`);
  }
}

function build(world: BenchWorld, parameters: ReconcileBenchParameters): number {
  const nodes: StateCommand[] = [];
  for (let i = 0; i < parameters.nodes; i++) {
    nodes.push(register(nodeId(i), {
      labels: { zone: zones[i % zones.length]! },
      resources: { cpuMillis: 64_000, memoryBytes: gibibytes(256) },
      atUs: world.nowUs,
    }));
  }
  world.applyAll(nodes);
  const services: StateCommand[] = [];
  for (let k = 0; k < parameters.services; k++) {
    services.push(createService(`svc-${String(k).padStart(5, '0')}`, {
      mode: { type: 'replicated', replicas: parameters.replicasPerService },
      reservations: { cpuMillis: 100, memoryBytes: mebibytes(64) },
      placement: { constraints: [], preferences: k % 2 === 0 ? [{ spread: 'node.labels.zone' }] : [] },
    }, world.nowUs));
  }
  world.applyAll(services);
  const tasks = parameters.services * parameters.replicasPerService;
  return world.converge(buildConfig, maxPassesPerBatch * Math.ceil(tasks / buildConfig.maxTasksPerPass));
}

const nodeId = (i: number): string => `node-${String(i).padStart(5, '0')}`;


function measureIdle(world: BenchWorld, parameters: ReconcileBenchParameters): Timing {
  const samplesMs: number[] = [];
  for (let i = 0; i < parameters.warmUpRuns + parameters.runs; i++) {
    world.nowUs += stepUs;
    const input = world.input();
    const startMs = performance.now();
    const commands = reconcile(world.state, input);
    const elapsedMs = performance.now() - startMs;
    if (commands.length > 0) throw new Error(`an idle pass proposed ${commands.length} commands, first ${commands[0]!.type}`);
    if (i >= parameters.warmUpRuns) samplesMs.push(elapsedMs);
  }
  return timings(samplesMs);
}

interface NodeDownSample {
  readonly tasksDisplaced: number;
  readonly detectMs: number;
  readonly detectCommands: number;
  readonly rescheduleMs: number;
  readonly rescheduleCommands: number;
  readonly rescheduleApplyMs: number;
  readonly orphaned: number;
  readonly created: number;
  readonly placeMs: number;
  readonly placeApplyMs: number;
  readonly placed: number;
  /** The three passes together. */
  readonly totalMs: number;
}

/** One pass, timed, then its commands applied, timed apart. */
function timedPass(world: BenchWorld): { commands: StateCommand[]; passMs: number; applyMs: number } {
  const input = world.input();
  const startMs = performance.now();
  const commands = reconcile(world.state, input);
  const passMs = performance.now() - startMs;
  const applyStartMs = performance.now();
  world.applyAll(commands);
  const applyMs = performance.now() - applyStartMs;
  world.nowUs += stepUs;
  return { commands, passMs, applyMs };
}

function measureNodeDown(world: BenchWorld, parameters: ReconcileBenchParameters): NodeDownSample {
  const converged = snapshot(world.state);
  const samples: NodeDownSample[] = [];
  for (let i = 0; i < parameters.nodeDownWarmUpRuns + parameters.nodeDownRuns; i++) {
    world.state = restore(converged);
    world.silentSinceUs.clear();
    // The leader has been running idle passes: one warms the restored store's sorted-list caches.
    world.nowUs += stepUs;
    if (reconcile(world.state, world.input()).length > 0) throw new Error('the restored store is not converged');
    const sample = nodeDownRun(world, parameters);
    if (i >= parameters.nodeDownWarmUpRuns) samples.push(sample);
  }
  // The last run's store settles again once the workers report the replacements running.
  world.converge(defaultReconcilerConfig, maxPassesPerBatch * Math.ceil(parameters.services * parameters.replicasPerService / defaultReconcilerConfig.maxTasksPerPass));
  const median = (pick: (s: NodeDownSample) => number) => timings(samples.map(pick)).medianMs;
  return {
    ...samples.at(-1)!,
    detectMs: median((s) => s.detectMs),
    rescheduleMs: median((s) => s.rescheduleMs),
    rescheduleApplyMs: median((s) => s.rescheduleApplyMs),
    placeMs: median((s) => s.placeMs),
    placeApplyMs: median((s) => s.placeApplyMs),
    totalMs: median((s) => s.totalMs),
  };
}

function nodeDownRun(world: BenchWorld, parameters: ReconcileBenchParameters): NodeDownSample {
  const lastHeardUs = world.nowUs;
  const spacing = parameters.nodes / parameters.nodesDown;
  const down = new Set<NodeId>();
  for (let j = 0; j < parameters.nodesDown; j++) down.add(nodeId(Math.floor(j * spacing)) as NodeId);
  for (const node of down) world.silentSinceUs.set(node, lastHeardUs);
  const displaced = new Set([...down].flatMap((node) => world.state.tasksOnNode(node)).filter((t) => t.desiredState === 'running' && !isTerminal(t.observedState)).map((t) => t.id));
  world.nowUs = lastHeardUs + defaultReconcilerConfig.heartbeatTimeoutUs + stepUs;

  const detect = timedPass(world);
  const marked = detect.commands.filter((c) => c.type === 'node-set-status' && c.status === 'down' && down.has(c.id)).length;
  if (marked !== down.size || detect.commands.length !== down.size) throw new Error(`the detect pass proposed ${detect.commands.length} commands, ${marked} of ${down.size} nodes marked down`);

  const reschedule = timedPass(world);
  const orphaned = reschedule.commands.filter((c) => c.type === 'task-report' && c.state === 'orphaned' && displaced.has(c.taskId)).length;
  const created = reschedule.commands.flatMap((c) => (c.type === 'task-create' ? c.tasks : [])).length;
  const expectedCreated = Math.min(displaced.size, defaultReconcilerConfig.maxTasksPerPass);
  if (orphaned !== displaced.size || created !== expectedCreated) {
    throw new Error(`the reschedule pass orphaned ${orphaned} of ${displaced.size} displaced tasks and created ${created} (expected ${expectedCreated})`);
  }

  const place = timedPass(world);
  const assignments = place.commands.flatMap((c) => (c.type === 'task-assign' ? c.assignments : []));
  if (assignments.length !== created || assignments.some((a) => down.has(a.nodeId))) {
    throw new Error(`the place pass assigned ${assignments.length} of ${created} replacements, or some to a down node`);
  }
  return {
    tasksDisplaced: displaced.size,
    detectMs: detect.passMs,
    detectCommands: detect.commands.length,
    rescheduleMs: reschedule.passMs,
    rescheduleCommands: reschedule.commands.length,
    rescheduleApplyMs: reschedule.applyMs,
    orphaned,
    created,
    placeMs: place.passMs,
    placeApplyMs: place.applyMs,
    totalMs: detect.passMs + reschedule.passMs + place.passMs,
    placed: assignments.length,
  };
}

