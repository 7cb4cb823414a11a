// Properties of PassScheduler (pass.ts), placement across the services of one pass: its decisions
// equal schedule() called for each service in turn on a view that records the placements before
// it, whichever path it takes (the scan or the candidate heap), with or without planted bugs; and
// the scan places exactly as a full rescan per task would.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ClusterNode, NodeId, Service, Task } from '../state/types.ts';
import { attributeValue, matchesAll, parseConstraints, parseSpread } from './constraints.ts';
import type { Constraint, SpreadPreference } from './constraints.ts';
import { PassScheduler } from './pass.ts';
import { makeNode, makeService, makeSpec, makeTask, makeVolume, mebibytes, pendingTasks } from './fixtures.ts';
import { schedule } from './scheduler.ts';
import type { Decision } from './scheduler.ts';
import { MemoryView } from './view.ts';
import type { ViewTask } from './view.ts';

const nodeArb = fc.record({
  availability: fc.constantFrom('active', 'active', 'active', 'pause', 'drain') as fc.Arbitrary<ClusterNode['availability']>,
  status: fc.constantFrom('ready', 'ready', 'ready', 'down') as fc.Arbitrary<ClusterNode['status']>,
  role: fc.constantFrom('manager', 'worker', 'worker') as fc.Arbitrary<ClusterNode['role']>,
  zone: fc.constantFrom('a', 'b', 'c', null),
  tier: fc.constantFrom('web', 'db', null),
  cpuMillis: fc.integer({ min: 0, max: 8 }).map((k) => k * 500),
  memoryMiB: fc.integer({ min: 0, max: 8 }).map((k) => k * 256),
});

const serviceArb = fc.record({
  constraints: fc.subarray(['node.labels.tier!=db', 'node.role!=manager', 'node.labels.zone==a', 'node.labels.zone!=c']),
  spread: fc.subarray(['node.labels.zone', 'node.labels.tier']).chain((picked) => fc.shuffledSubarray(picked, { minLength: picked.length, maxLength: picked.length })),
  cpuMillis: fc.constantFrom(0, 250, 1000),
  memoryMiB: fc.constantFrom(0, 128, 512),
  port: fc.constantFrom(0, 0, 80, 81),
  volume: fc.constantFrom(null, null, null, 'data', 'logs'),
  global: fc.boolean(),
  taskCount: fc.integer({ min: 0, max: 12 }),
});

const passArb = fc.record({
  nodes: fc.array(nodeArb, { minLength: 0, maxLength: 10 }),
  existing: fc.array(fc.record({ node: fc.nat(), service: fc.nat({ max: 4 }), port: fc.constantFrom(0, 80), memoryMiB: fc.constantFrom(0, 128, 512) }), { maxLength: 15 }),
  dataOn: fc.option(fc.nat(), { nil: null }),
  services: fc.array(serviceArb, { minLength: 1, maxLength: 5 }),
  scanMaxTasks: fc.constantFrom(0, 3, 1000),
  scheduleOnDrained: fc.boolean(),
});

type Pass = typeof passArb extends fc.Arbitrary<infer T> ? T : never;

interface Built {
  readonly view: () => MemoryView;
  readonly services: readonly { readonly service: Service; readonly tasks: readonly Task[] }[];
}

function build(pass: Pass): Built {
  const nodes = pass.nodes.map((n, i) => makeNode(`n${String(i).padStart(2, '0')}`, {
    availability: n.availability, status: n.status, role: n.role,
    labels: { ...(n.zone === null ? {} : { zone: n.zone }), ...(n.tier === null ? {} : { tier: n.tier }) },
    resources: { cpuMillis: n.cpuMillis, memoryBytes: mebibytes(n.memoryMiB) },
  }));
  const existing: ViewTask[] = nodes.length === 0 ? [] : pass.existing.map((e, i) => ({
    task: makeTask(`old${i}`, `s${e.service}`, { nodeId: nodes[e.node % nodes.length]!.id, state: 'running' }),
    spec: makeSpec({ reservations: { cpuMillis: 0, memoryBytes: mebibytes(e.memoryMiB) }, ports: e.port === 0 ? [] : [{ published: e.port, protocol: 'tcp', mode: 'host' }] }),
  }));
  const dataNode = pass.dataOn === null || nodes.length === 0 ? null : nodes[pass.dataOn % nodes.length]!.id;
  const volumes = [makeVolume('data', dataNode), makeVolume('logs')];
  const services = pass.services.map((s, k) => {
    const service = makeService(`s${k}`, {
      name: `s${k}`, global: s.global, constraints: s.constraints, spread: s.spread,
      reservations: { cpuMillis: s.cpuMillis, memoryBytes: mebibytes(s.memoryMiB) },
      ports: s.port === 0 ? [] : [{ published: s.port, protocol: 'tcp', mode: 'host' }], volumes: s.volume === null ? [] : [s.volume],
    });
    const tasks = s.global
      ? nodes.slice(0, s.taskCount).map((node) => makeTask(`s${k}.${node.id}`, service.id, { nodeId: node.id }))
      : pendingTasks(service.id, s.taskCount, `s${k}`);
    return { service, tasks };
  });
  return { view: () => new MemoryView({ nodes, tasks: existing, volumes }), services };
}

/** The pass as the reconciler placed it before PassScheduler: schedule() per service, recording each. */
function oneByOne(built: Built, scheduleOnDrained: boolean): Decision[][] {
  const view = built.view();
  return built.services.map(({ service, tasks }) => {
    const decisions = schedule(view, service, tasks, { scheduleOnDrained });
    for (const d of decisions) {
      if (d.type !== 'placed') continue;
      view.add({ task: makeTask(`${d.taskId}.placed`, service.id, { nodeId: d.nodeId, state: 'assigned' }), spec: service.spec });
      for (const volume of d.bindVolumes) view.bindVolume(volume, d.nodeId);
    }
    return decisions;
  });
}

const constraintsOf = (service: Service): readonly Constraint[] => parseConstraints(service.spec.placement.constraints) as readonly Constraint[];

/** Full rescan per task (as in scheduler.property.test.ts): the score as a tuple, compared lexicographically. */
function reference(view: MemoryView, service: Service, count: number): (NodeId | null)[] {
  const constraints = constraintsOf(service);
  const preferences = service.spec.placement.preferences.map((p) => parseSpread(p.spread) as SpreadPreference);
  const candidates = view.nodes().filter((node) => node.availability === 'active' && node.status === 'ready' && matchesAll(constraints, node));
  const groupOf = (node: ClusterNode, depth: number): string => JSON.stringify(preferences.slice(0, depth + 1).map((p) => attributeValue(p.attribute, node)));
  const needs = service.spec.reservations;
  const placed: (NodeId | null)[] = [];
  for (let k = 0; k < count; k++) {
    const scored = candidates
      .filter((node) => {
        const reserved = view.reserved(node.id);
        return node.resources.cpuMillis - reserved.cpuMillis >= needs.cpuMillis && node.resources.memoryBytes - reserved.memoryBytes >= needs.memoryBytes;
      })
      .map((node) => {
        const groups = preferences.map((_, depth) => candidates
          .filter((other) => groupOf(other, depth) === groupOf(node, depth))
          .reduce((sum, other) => sum + view.serviceTaskCount(other.id, service.id), 0));
        const free = node.resources.memoryBytes - view.reserved(node.id).memoryBytes;
        return { node, key: [view.serviceTaskCount(node.id, service.id), ...groups, view.taskCount(node.id), -free] };
      })
      .sort((a, b) => {
        for (let i = 0; i < a.key.length; i++) if (a.key[i] !== b.key[i]) return a.key[i]! - b.key[i]!;
        return a.node.id < b.node.id ? -1 : 1;
      });
    const best = scored[0]?.node ?? null;
    placed.push(best?.id ?? null);
    if (best !== null) view.add({ task: makeTask(`ref${k}`, service.id, { nodeId: best.id, state: 'assigned' }), spec: service.spec });
  }
  return placed;
}

describe('PassScheduler: properties', () => {
  it('places a pass exactly as schedule() would, service after service, on a view recording the ones before', () => {
    fc.assert(fc.property(passArb, (pass) => {
      const built = build(pass);
      const expected = oneByOne(built, pass.scheduleOnDrained);
      const scheduler = new PassScheduler(built.view(), { scanMaxTasks: pass.scanMaxTasks, bugs: { scheduleOnDrained: pass.scheduleOnDrained } });
      built.services.forEach(({ service, tasks }, k) => {
        assert.deepEqual(scheduler.schedule(service, tasks), expected[k], `service ${service.id} (${k + 1} of ${built.services.length})`);
      });
    }), { numRuns: 400 });
  });

  it('scans to exactly the placements of a full rescan per task', () => {
    const scanArb = fc.record({
      nodes: fc.array(nodeArb, { minLength: 0, maxLength: 12 }),
      existing: fc.array(fc.record({ node: fc.nat(), same: fc.boolean(), memoryMiB: fc.constantFrom(0, 128, 512) }), { maxLength: 15 }),
      service: serviceArb.map((s) => ({ ...s, global: false, volume: null, port: 0 as const })),
      taskCount: fc.integer({ min: 0, max: 30 }),
    });
    fc.assert(fc.property(scanArb, (scenario) => {
      const built = build({ nodes: scenario.nodes, existing: [], dataOn: null, services: [{ ...scenario.service, taskCount: scenario.taskCount }], scanMaxTasks: 1000, scheduleOnDrained: false });
      const { service, tasks } = built.services[0]!;
      const existing = (view: MemoryView) => {
        const nodes = view.nodes();
        if (nodes.length === 0) return view;
        scenario.existing.forEach((e, i) => view.add({
          task: makeTask(`old${i}`, e.same ? service.id : 'other', { nodeId: nodes[e.node % nodes.length]!.id, state: 'running' }),
          spec: makeSpec({ reservations: { cpuMillis: 0, memoryBytes: mebibytes(e.memoryMiB) } }),
        }));
        return view;
      };
      const decisions = new PassScheduler(existing(built.view()), { scanMaxTasks: 1000 }).schedule(service, tasks);
      assert.deepEqual(decisions.map((d) => (d.type === 'placed' ? d.nodeId : null)), reference(existing(built.view()), service, tasks.length));
    }), { numRuns: 300 });
  });

  it('records what it placed: the view it exposes counts the pass', () => {
    const nodes = [makeNode('n1'), makeNode('n2')];
    const scheduler = new PassScheduler(new MemoryView({ nodes, tasks: [], volumes: [] }));
    const web = makeService('web', { reservations: { cpuMillis: 500, memoryBytes: mebibytes(256) }, ports: [{ published: 80, protocol: 'tcp', mode: 'host' }] });
    const decisions = scheduler.schedule(web, pendingTasks('web', 2));
    assert.deepEqual(decisions.map((d) => (d.type === 'placed' ? d.nodeId : d.reason)), ['n1', 'n2']);
    for (const node of ['n1', 'n2'] as NodeId[]) {
      assert.equal(scheduler.view.taskCount(node), 1);
      assert.equal(scheduler.view.serviceTaskCount(node, web.id), 1);
      assert.deepEqual(scheduler.view.reserved(node), { cpuMillis: 500, memoryBytes: mebibytes(256) });
      assert.equal(scheduler.view.hostPortInUse(node, 'tcp', 80), true);
    }
    const again = makeService('again', { name: 'again', ports: [{ published: 80, protocol: 'tcp', mode: 'host' }] });
    assert.deepEqual(scheduler.schedule(again, pendingTasks('again', 1)).map((d) => (d.type === 'placed' ? d.nodeId : d.reason)), ['host port 80/tcp is in use on every eligible node']);
  });
});
