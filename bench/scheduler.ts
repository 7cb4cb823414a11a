// `npm run bench -- scheduler`: the placement cost of core/scheduler on its own, in two shapes.
// 1. One big batch: 10,000 tasks of one service (constraint node.labels.tier!=db, spread over
//    node.labels.zone, cpu and memory reservations) on 1,000 nodes (5 zones, 3 tiers, 3 memory
//    sizes, a background load of other tasks). The target: under 100 ms.
// 2. Many small batches: 100 services x 100 tasks, each scheduled against the placements of the
//    ones before (constraints, spread and host ports vary by service).
// Only schedule() is timed: building the view and recording placements between services are not.
// Each shape runs warm-up rounds first (not counted), then reports the median of the counted runs.
// Invariant checked on every run: every task placed, none on an ineligible node, and in shape 1 the
// per-node counts of eligible nodes differ by at most one (the spread).

import { gibibytes, makeNode, makeService, makeSpec, makeTask, mebibytes, pendingTasks } from '../core/scheduler/fixtures.ts';
import { MemoryView, schedule } from '../core/scheduler/index.ts';
import type { Decision } from '../core/scheduler/index.ts';
import type { ClusterNode, Service } from '../core/state/types.ts';
import type { BenchmarkArgs } from './cli.ts';
import { integerParameters } from './parameters.ts';
import { round, timings, type Timing } from './timing.ts';

export interface SchedulerBenchParameters {
  readonly nodes: number;
  readonly tasks: number;
  readonly services: number;
  readonly tasksPerService: number;
  readonly runs: number;
  readonly warmUpRuns: number;
  /** Background tasks of other services per node, so least-loaded has something to compare. */
  readonly backgroundTasksPerNode: number;
}

export const defaultSchedulerParameters: SchedulerBenchParameters = {
  nodes: 1000,
  tasks: 10_000,
  services: 100,
  tasksPerService: 100,
  runs: 9,
  warmUpRuns: 3,
  backgroundTasksPerNode: 2,
};

const zones = ['zone-a', 'zone-b', 'zone-c', 'zone-d', 'zone-e'];
const tiers = ['web', 'app', 'db'];
const memorySizesGiB = [16, 32, 64];

export async function run(args: BenchmarkArgs, overrides: Partial<SchedulerBenchParameters> = {}): Promise<Record<string, unknown>> {
  const parameters = schedulerParameters(overrides);
  const nodes = makeNodes(parameters.nodes);
  args.progress(`scheduler: ${parameters.tasks} tasks on ${parameters.nodes} nodes, ${parameters.warmUpRuns} warm-up + ${parameters.runs} runs`);
  const big = measureBigBatch(parameters, nodes);
  args.progress(`scheduler: ${parameters.services} services x ${parameters.tasksPerService} tasks`);
  const many = measureManyServices(parameters, nodes);
  return {
    nodes: parameters.nodes,
    tasks: parameters.tasks,
    placeMs: round(big.medianMs, 2),
    placeMsMin: round(big.minMs, 2),
    placeMsMax: round(big.maxMs, 2),
    tasksPerSecond: Math.round(parameters.tasks / (big.medianMs / 1000)),
    targetPlaceMs: 100,
    eligibleNodes: big.eligibleNodes,
    tasksPerZone: big.tasksPerZone,
    services: parameters.services,
    tasksPerService: parameters.tasksPerService,
    manyServicesPlaceMs: round(many.medianMs, 2),
    manyServicesTasksPerSecond: Math.round((parameters.services * parameters.tasksPerService) / (many.medianMs / 1000)),
    runs: parameters.runs,
    warmUpRuns: parameters.warmUpRuns,
  };
}

/** Defaults plus overrides, validated once: integers >= 1 (warm-up and background may be 0). */
export function schedulerParameters(overrides: Partial<SchedulerBenchParameters>): SchedulerBenchParameters {
  return integerParameters('scheduler', defaultSchedulerParameters, overrides, ['warmUpRuns', 'backgroundTasksPerNode']);
}

function makeNodes(count: number): ClusterNode[] {
  return Array.from({ length: count }, (_, i) => makeNode(`node-${String(i).padStart(5, '0')}`, {
    labels: { zone: zones[i % zones.length]!, tier: tiers[Math.floor(i / zones.length) % tiers.length]! },
    resources: { cpuMillis: 32_000, memoryBytes: gibibytes(memorySizesGiB[Math.floor(i / 7) % memorySizesGiB.length]!) },
  }));
}

function makeView(parameters: SchedulerBenchParameters, nodes: readonly ClusterNode[]): MemoryView {
  const spec = makeSpec({ name: 'background', reservations: { cpuMillis: 500, memoryBytes: mebibytes(512) } });
  const tasks = nodes.flatMap((node, i) => Array.from({ length: (i % (parameters.backgroundTasksPerNode + 1)) }, (_, k) => ({
    task: makeTask(`background.${node.id}.${k}`, 'background', { nodeId: node.id, state: 'running' }),
    spec,
  })));
  return new MemoryView({ nodes, tasks, volumes: [] });
}


function measureBigBatch(parameters: SchedulerBenchParameters, nodes: readonly ClusterNode[]): Timing & { eligibleNodes: number; tasksPerZone: Record<string, number> } {
  const view = makeView(parameters, nodes);
  const service = makeService('web', {
    constraints: ['node.labels.tier!=db'],
    spread: ['node.labels.zone'],
    reservations: { cpuMillis: 250, memoryBytes: mebibytes(256) },
  });
  const tasks = pendingTasks('web', parameters.tasks);
  const samplesMs: number[] = [];
  let last: Decision[] = [];
  for (let i = 0; i < parameters.warmUpRuns + parameters.runs; i++) {
    const startMs = performance.now();
    last = schedule(view, service, tasks);
    const elapsedMs = performance.now() - startMs;
    if (i >= parameters.warmUpRuns) samplesMs.push(elapsedMs);
  }
  const byId = new Map(nodes.map((node) => [node.id as string, node]));
  const eligible = nodes.filter((node) => node.labels.tier !== 'db');
  const perNode = new Map<string, number>(eligible.map((node) => [node.id, 0]));
  const tasksPerZone: Record<string, number> = {};
  for (const decision of last) {
    if (decision.type !== 'placed') throw new Error(`task ${decision.taskId} not placed: ${decision.reason}`);
    const node = byId.get(decision.nodeId)!;
    if (node.labels.tier === 'db') throw new Error(`task ${decision.taskId} placed on db node ${node.id}`);
    perNode.set(node.id, perNode.get(node.id)! + 1);
    tasksPerZone[node.labels.zone!] = (tasksPerZone[node.labels.zone!] ?? 0) + 1;
  }
  const counts = [...perNode.values()];
  const spread = Math.max(...counts) - Math.min(...counts);
  if (spread > 1) throw new Error(`per-node task counts differ by ${spread} (expected at most 1)`);
  const sortedPerZone = Object.fromEntries(Object.entries(tasksPerZone).sort(([a], [b]) => (a < b ? -1 : 1)));
  return { ...timings(samplesMs), eligibleNodes: eligible.length, tasksPerZone: sortedPerZone };
}

function manyServices(parameters: SchedulerBenchParameters): Service[] {
  return Array.from({ length: parameters.services }, (_, k) => makeService(`svc-${String(k).padStart(4, '0')}`, {
    name: `svc-${k}`,
    constraints: k % 3 === 0 ? ['node.labels.tier!=db'] : k % 3 === 1 ? [`node.labels.zone!=${zones[k % zones.length]}`] : ['node.role==worker'],
    spread: k % 2 === 0 ? ['node.labels.zone'] : [],
    reservations: { cpuMillis: 100, memoryBytes: mebibytes(64) },
    ports: k % 10 === 0 ? [{ published: 8000 + k, protocol: 'tcp', mode: 'host' }] : [],
  }));
}

function measureManyServices(parameters: SchedulerBenchParameters, nodes: readonly ClusterNode[]): Timing {
  const services = manyServices(parameters);
  const tasksByService = services.map((service) => pendingTasks(service.id, parameters.tasksPerService));
  const samplesMs: number[] = [];
  for (let i = 0; i < parameters.warmUpRuns + parameters.runs; i++) {
    const view = makeView(parameters, nodes);
    let elapsedMs = 0;
    for (const [k, service] of services.entries()) {
      const startMs = performance.now();
      const decisions = schedule(view, service, tasksByService[k]!);
      elapsedMs += performance.now() - startMs;
      for (const decision of decisions) {
        if (decision.type !== 'placed') throw new Error(`task ${decision.taskId} not placed: ${decision.reason}`);
        view.add({ task: makeTask(decision.taskId, service.id, { nodeId: decision.nodeId, state: 'assigned' }), spec: service.spec });
      }
    }
    if (i >= parameters.warmUpRuns) samplesMs.push(elapsedMs);
  }
  return timings(samplesMs);
}

