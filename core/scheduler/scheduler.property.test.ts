// Properties of schedule() over random clusters: no placement on an ineligible node, no node over
// its resources, no host port taken twice, volumes respected, a task left unschedulable only when
// nothing fits; and the batched placement equals a naive reference that rescans and re-sorts every
// node for every task with the same lexicographic score.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ClusterNode, NodeId, Service, Task } from '../state/types.ts';
import { attributeValue, matchesAll, parseConstraints, parseSpread } from './constraints.ts';
import type { Constraint, SpreadPreference } from './constraints.ts';
import { makeNode, makeService, makeSpec, makeTask, makeVolume, mebibytes, pendingTasks } from './fixtures.ts';
import { schedule } from './scheduler.ts';
import type { Decision } from './scheduler.ts';
import { MemoryView } from './view.ts';
import type { ViewTask } from './view.ts';

const port80 = { published: 80, protocol: 'tcp' as const, mode: 'host' as const };

const nodeArb = fc.record({
  availability: fc.constantFrom('active', 'active', 'active', 'pause', 'drain') as fc.Arbitrary<ClusterNode['availability']>,
  status: fc.constantFrom('ready', 'ready', 'ready', 'down', 'unknown') as fc.Arbitrary<ClusterNode['status']>,
  role: fc.constantFrom('manager', 'worker', 'worker', 'hybrid') as fc.Arbitrary<ClusterNode['role']>,
  zone: fc.constantFrom('a', 'b', 'c', null),
  tier: fc.constantFrom('web', 'db', null),
  cpuMillis: fc.integer({ min: 0, max: 8 }).map((k) => k * 500),
  memoryMiB: fc.integer({ min: 0, max: 8 }).map((k) => k * 256),
});

const scenarioArb = fc.record({
  nodes: fc.array(nodeArb, { minLength: 0, maxLength: 12 }),
  existing: fc.array(fc.record({ node: fc.nat(), web: fc.boolean(), port: fc.boolean(), memoryMiB: fc.constantFrom(0, 128, 512) }), { maxLength: 15 }),
  constraints: fc.subarray(['node.labels.tier!=db', 'node.role!=manager', 'node.labels.zone==a', 'node.labels.zone!=c']),
  spread: fc.subarray(['node.labels.zone', 'node.labels.tier']).chain((picked) => fc.shuffledSubarray(picked, { minLength: picked.length, maxLength: picked.length })),
  cpuMillis: fc.constantFrom(0, 250, 1000),
  memoryMiB: fc.constantFrom(0, 128, 512),
  port: fc.boolean(),
  volume: fc.option(fc.option(fc.nat(), { nil: null }), { nil: undefined }),
  global: fc.boolean(),
  taskCount: fc.integer({ min: 0, max: 30 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

interface Built {
  readonly nodes: ClusterNode[];
  readonly existing: ViewTask[];
  readonly service: Service;
  readonly tasks: Task[];
  readonly view: () => MemoryView;
  readonly boundVolumeNode: NodeId | null;
}

function build(scenario: Scenario): Built {
  const nodes = scenario.nodes.map((n, i) => makeNode(`n${String(i).padStart(2, '0')}`, {
    availability: n.availability, status: n.status, role: n.role,
    labels: { ...(n.zone === null ? {} : { zone: n.zone }), ...(n.tier === null ? {} : { tier: n.tier }) },
    resources: { cpuMillis: n.cpuMillis, memoryBytes: mebibytes(n.memoryMiB) },
  }));
  const existing = nodes.length === 0 ? [] : scenario.existing.map((e, i) => ({
    task: makeTask(`old${i}`, e.web ? 'web' : 'other', { nodeId: nodes[e.node % nodes.length]!.id, state: 'running' }),
    spec: makeSpec({ reservations: { cpuMillis: 0, memoryBytes: mebibytes(e.memoryMiB) }, ports: e.port ? [port80] : [] }),
  }));
  const boundVolumeNode = scenario.volume === undefined || scenario.volume === null || nodes.length === 0 ? null : nodes[scenario.volume % nodes.length]!.id;
  const volumes = scenario.volume === undefined ? [] : [makeVolume('data', boundVolumeNode)];
  const service = makeService('web', {
    global: scenario.global, constraints: scenario.constraints, spread: scenario.spread,
    reservations: { cpuMillis: scenario.cpuMillis, memoryBytes: mebibytes(scenario.memoryMiB) },
    ports: scenario.port ? [port80] : [], volumes: scenario.volume === undefined ? [] : ['data'],
  });
  const tasks = scenario.global
    ? nodes.slice(0, scenario.taskCount).map((node) => makeTask(`web.${node.id}`, 'web', { nodeId: node.id }))
    : pendingTasks('web', scenario.taskCount);
  return { nodes, existing, service, tasks, boundVolumeNode, view: () => new MemoryView({ nodes, tasks: existing, volumes }) };
}

/** The view after the placed decisions took effect. */
function applied(built: Built, decisions: readonly Decision[]): MemoryView {
  const view = built.view();
  for (const d of decisions) {
    if (d.type === 'placed') view.add({ task: makeTask(`${d.taskId}.placed`, 'web', { nodeId: d.nodeId, state: 'assigned' }), spec: built.service.spec });
  }
  return view;
}

const constraintsOf = (service: Service): readonly Constraint[] => parseConstraints(service.spec.placement.constraints) as readonly Constraint[];
const eligible = (node: ClusterNode, constraints: readonly Constraint[]): boolean =>
  node.availability === 'active' && node.status === 'ready' && matchesAll(constraints, node);

function fitsOneMore(view: MemoryView, node: ClusterNode, service: Service): boolean {
  const reserved = view.reserved(node.id);
  const needs = service.spec.reservations;
  return node.resources.cpuMillis - reserved.cpuMillis >= needs.cpuMillis && node.resources.memoryBytes - reserved.memoryBytes >= needs.memoryBytes &&
    !(service.spec.ports.length > 0 && view.hostPortInUse(node.id, 'tcp', 80));
}

/** Full rescan per task: the score as a tuple, compared lexicographically. */
function reference(built: Built): (NodeId | null)[] {
  const constraints = constraintsOf(built.service);
  const preferences = built.service.spec.placement.preferences.map((p) => parseSpread(p.spread) as SpreadPreference);
  let pinned = built.boundVolumeNode;
  const candidates = built.nodes.filter((node) => eligible(node, constraints) && (pinned === null || node.id === pinned));
  const groupOf = (node: ClusterNode, depth: number): string => JSON.stringify(preferences.slice(0, depth + 1).map((p) => attributeValue(p.attribute, node)));
  const view = built.view();
  const placed: (NodeId | null)[] = [];
  for (const task of built.tasks) {
    const scored = candidates
      .filter((node) => (pinned === null || node.id === pinned) && fitsOneMore(view, node, built.service))
      .map((node) => {
        const groups = preferences.map((_, depth) => candidates
          .filter((other) => groupOf(other, depth) === groupOf(node, depth))
          .reduce((sum, other) => sum + view.serviceTaskCount(other.id, built.service.id), 0));
        const free = node.resources.memoryBytes - view.reserved(node.id).memoryBytes;
        return { node, key: [view.serviceTaskCount(node.id, built.service.id), ...groups, view.taskCount(node.id), -free] };
      })
      .sort((a, b) => {
        for (let k = 0; k < a.key.length; k++) if (a.key[k] !== b.key[k]) return a.key[k]! - b.key[k]!;
        return a.node.id < b.node.id ? -1 : 1;
      });
    const best = scored[0]?.node ?? null;
    placed.push(best?.id ?? null);
    if (best === null) continue;
    view.add({ task: makeTask(`${task.id}.ref`, 'web', { nodeId: best.id, state: 'assigned' }), spec: built.service.spec });
    if (built.service.spec.mounts.length > 0) pinned = best.id;
  }
  return placed;
}

describe('schedule: properties', () => {
  it('never places on an ineligible node, over resources, on a taken port or away from the volume', () => {
    fc.assert(fc.property(scenarioArb, (scenario) => {
      const built = build(scenario);
      const decisions = schedule(built.view(), built.service, built.tasks);
      assert.equal(decisions.length, built.tasks.length);
      const constraints = constraintsOf(built.service);
      const byId = new Map(built.nodes.map((node) => [node.id, node]));
      const before = built.view();
      const after = applied(built, decisions);
      const used = new Set<NodeId>();
      const placedPerNode = new Map<NodeId, number>();
      for (const [k, d] of decisions.entries()) {
        if (d.type !== 'placed') continue;
        const node = byId.get(d.nodeId)!;
        assert.ok(eligible(node, constraints), `placed on ineligible node ${node.id}`);
        if (scenario.global) assert.equal(d.nodeId, built.tasks[k]!.nodeId);
        used.add(d.nodeId);
        placedPerNode.set(d.nodeId, (placedPerNode.get(d.nodeId) ?? 0) + 1);
      }
      for (const id of used) {
        const node = byId.get(id)!;
        const reserved = after.reserved(id);
        assert.ok(reserved.cpuMillis <= node.resources.cpuMillis && reserved.memoryBytes <= node.resources.memoryBytes, `node ${id} over its resources`);
        if (scenario.port) {
          assert.equal(placedPerNode.get(id), 1, `port 80 twice on ${id}`);
          assert.ok(!before.hostPortInUse(id, 'tcp', 80), `port 80 already in use on ${id}`);
        }
      }
      if (scenario.volume !== undefined) {
        assert.ok(used.size <= 1, 'tasks of one volume on several nodes');
        if (built.boundVolumeNode !== null) for (const id of used) assert.equal(id, built.boundVolumeNode);
      }
      if (!scenario.global && decisions.some((d) => d.type === 'unschedulable')) {
        const pin = built.boundVolumeNode ?? [...used][0] ?? null;
        const room = built.nodes.filter((node) => eligible(node, constraints) && (scenario.volume === undefined || pin === null || node.id === pin) && fitsOneMore(after, node, built.service));
        assert.deepEqual(room.map((node) => node.id), [], 'a task was left unschedulable while a node had room');
      }
    }), { numRuns: 300 });
  });

  it('places exactly as a full rescan per task would', () => {
    fc.assert(fc.property(scenarioArb.filter((s) => !s.global), (scenario) => {
      const built = build(scenario);
      const decisions = schedule(built.view(), built.service, built.tasks);
      assert.deepEqual(decisions.map((d) => (d.type === 'placed' ? d.nodeId : null)), reference(built));
    }), { numRuns: 300 });
  });
});
