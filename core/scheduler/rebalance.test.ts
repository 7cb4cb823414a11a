// The scheduler's rebalancer (rebalance.ts): which moves even out a replicated service over its
// eligible nodes. Examples, then properties over random clusters: every move goes from an eligible
// node to an eligible node with room that holds at least two fewer of the service's tasks, the
// moves leave the counts within one (over the nodes with room), and quick() never says no when
// moves() would find one.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ClusterNode, NodeId, Service } from '../state/types.ts';
import { makeNode, makeService, makeSpec, makeTask, mebibytes } from './fixtures.ts';
import { nodeEligible } from './filters.ts';
import { parseConstraints } from './constraints.ts';
import { Rebalancer, type RebalanceMove } from './rebalance.ts';
import { MemoryView, type ViewTask } from './view.ts';

/** A view with `perNode[i]` running tasks of the service on node n{i+1}, and the nodes' counts as a map. */
function cluster(nodes: readonly ClusterNode[], service: Service, perNode: readonly number[]) {
  const tasks: ViewTask[] = [];
  const counts = new Map<NodeId, number>();
  nodes.forEach((node, i) => {
    for (let k = 0; k < (perNode[i] ?? 0); k++) tasks.push({ task: makeTask(`t${i}.${k}`, service.id, { slot: tasks.length + 1, nodeId: node.id, state: 'running' }), spec: service.spec });
    if ((perNode[i] ?? 0) > 0) counts.set(node.id, perNode[i]!);
  });
  return { view: new MemoryView({ nodes, tasks, volumes: [] }), counts };
}

const settled = () => true;
const nodes = (count: number, options: (i: number) => Parameters<typeof makeNode>[1] = () => ({})) =>
  Array.from({ length: count }, (_, i) => makeNode(`n${i + 1}`, options(i)));
const moved = (moves: readonly RebalanceMove[]) => moves.map((m) => `${m.from}->${m.to}`);

describe('Rebalancer', () => {
  it('moves from the fullest node to the emptiest, one move per call up to the bound, until within one', () => {
    const service = makeService('web', { replicas: 6 });
    const { view, counts } = cluster(nodes(3), service, [5, 1, 0]);
    const rebalancer = new Rebalancer(view);
    assert.deepEqual(moved(rebalancer.moves(service, counts, 1, settled)), ['n1->n3']);
    assert.deepEqual(moved(rebalancer.moves(service, counts, 10, settled)), ['n1->n3', 'n1->n2', 'n1->n3']);
  });

  it('leaves counts within one alone: 2/1, and 2/2/2', () => {
    const service = makeService('web', { replicas: 3 });
    for (const perNode of [[2, 1], [2, 2, 2], [1, 1, 0]]) {
      const { view, counts } = cluster(nodes(perNode.length), service, perNode);
      assert.deepEqual(new Rebalancer(view).moves(service, counts, 10, settled), [], JSON.stringify(perNode));
    }
  });

  it('only eligible nodes take part: not down, drained, paused, nor failing a constraint', () => {
    const service = makeService('api', { replicas: 4, constraints: ['node.labels.zone==a'] });
    const zones = ['a', 'b', 'a', 'a', 'a'];
    const states: Parameters<typeof makeNode>[1][] = [{}, {}, { status: 'down' }, { availability: 'drain' }, { availability: 'pause' }];
    const all = nodes(5, (i) => ({ ...states[i], labels: { zone: zones[i]! } }));
    const { view, counts } = cluster(all, service, [4, 0, 0, 0, 0]);
    assert.deepEqual(new Rebalancer(view).moves(service, counts, 10, settled), []);
    // A sixth node in zone a, ready and active, takes two.
    const more = [...all, makeNode('n6', { labels: { zone: 'a' } })];
    const again = cluster(more, service, [4, 0, 0, 0, 0, 0]);
    assert.deepEqual(moved(new Rebalancer(again.view).moves(service, again.counts, 10, settled)), ['n1->n6', 'n1->n6']);
  });

  it('a target needs room for one more task; nothing moves while any eligible node is unsettled', () => {
    const service = makeService('web', { replicas: 4, reservations: { cpuMillis: 1000, memoryBytes: 0 } });
    const small = nodes(2, (i) => ({ resources: { cpuMillis: i === 0 ? 8000 : 500, memoryBytes: mebibytes(512) } }));
    const { view, counts } = cluster(small, service, [4, 0]);
    assert.deepEqual(new Rebalancer(view).moves(service, counts, 10, settled), [], 'n2 has half a CPU');
    const roomy = cluster(nodes(2), service, [4, 0]);
    const rebalancer = new Rebalancer(roomy.view);
    assert.deepEqual(rebalancer.moves(service, roomy.counts, 10, (node) => node.id !== 'n2'), []);
    assert.deepEqual(rebalancer.moves(service, roomy.counts, 10, (node) => node.id !== 'n1'), [], 'the source counts too');
    assert.equal(rebalancer.moves(service, roomy.counts, 10, settled).length, 2);
  });

  it('spread preferences break ties: the move leaves the crowded zone for the empty one', () => {
    const service = makeService('web', { replicas: 4, spread: ['node.labels.zone'] });
    const zoned = nodes(4, (i) => ({ labels: { zone: i < 2 ? 'a' : 'b' } }));
    const { view, counts } = cluster(zoned, service, [3, 1, 0, 0]);
    assert.deepEqual(moved(new Rebalancer(view).moves(service, counts, 10, settled)), ['n1->n3', 'n1->n4']);
  });

  it('global services and services with volumes never move', () => {
    for (const service of [makeService('agent', { global: true }), makeService('db', { replicas: 4, volumes: ['data'] })]) {
      const { view, counts } = cluster(nodes(2), service, [4, 0]);
      assert.deepEqual(new Rebalancer(view).moves(service, counts, 10, settled), [], service.id);
    }
  });
});

const nodeArb = fc.record({
  availability: fc.constantFrom('active', 'active', 'active', 'pause', 'drain') as fc.Arbitrary<ClusterNode['availability']>,
  status: fc.constantFrom('ready', 'ready', 'ready', 'down') as fc.Arbitrary<ClusterNode['status']>,
  zone: fc.constantFrom('a', 'b', 'c'),
  cpuMillis: fc.integer({ min: 0, max: 8 }).map((k) => k * 500),
  tasks: fc.integer({ min: 0, max: 6 }),
});

const caseArb = fc.record({
  nodes: fc.array(nodeArb, { minLength: 1, maxLength: 8 }),
  constraints: fc.subarray(['node.labels.zone!=c', 'node.labels.zone==a']),
  spread: fc.constantFrom([], ['node.labels.zone']),
  cpuMillis: fc.constantFrom(0, 250, 1000),
  maxMoves: fc.integer({ min: 1, max: 20 }),
});

describe('Rebalancer properties', () => {
  it('each move goes between eligible nodes, onto one with room, two or more emptier; no move is left once they are done', () => {
    fc.assert(fc.property(caseArb, (c) => {
      const all = c.nodes.map((n, i) => makeNode(`n${i + 1}`, { availability: n.availability, status: n.status, labels: { zone: n.zone }, resources: { cpuMillis: n.cpuMillis, memoryBytes: mebibytes(4096) } }));
      const perNode = c.nodes.map((n) => n.tasks);
      const spec = makeSpec({ replicas: Math.max(1, perNode.reduce((a, b) => a + b, 0)), constraints: c.constraints, spread: c.spread, reservations: { cpuMillis: c.cpuMillis, memoryBytes: 0 } });
      const service: Service = { ...makeService('web'), spec };
      const { view, counts } = cluster(all, service, perNode);
      const rebalancer = new Rebalancer(view);
      const moves = rebalancer.moves(service, counts, c.maxMoves, settled);
      const constraints = parseConstraints(c.constraints);
      assert.ok(!('message' in constraints));
      const eligible = (id: NodeId) => nodeEligible(all.find((n) => n.id === id)!, constraints);
      const now = new Map(counts);
      const free = new Map(all.map((n) => [n.id, n.resources.cpuMillis - view.reserved(n.id).cpuMillis]));
      for (const move of moves) {
        assert.ok(eligible(move.from) && eligible(move.to), `${move.from}->${move.to} between eligible nodes`);
        assert.ok((now.get(move.from) ?? 0) - (now.get(move.to) ?? 0) >= 2, `${move.from}->${move.to} narrows the spread`);
        assert.ok(free.get(move.to)! >= c.cpuMillis, `${move.to} has room`);
        now.set(move.from, now.get(move.from)! - 1);
        now.set(move.to, (now.get(move.to) ?? 0) + 1);
        free.set(move.to, free.get(move.to)! - c.cpuMillis);
      }
      if (moves.length < c.maxMoves) {
        // Done: the fullest eligible node runs at most one more than any eligible node with room.
        const ids = all.filter((n) => eligible(n.id)).map((n) => n.id);
        const most = Math.max(0, ...ids.map((id) => now.get(id) ?? 0));
        const roomy = ids.filter((id) => free.get(id)! >= c.cpuMillis);
        for (const id of roomy) assert.ok(most - (now.get(id) ?? 0) <= 1, `${id} still has room and ${now.get(id) ?? 0} tasks against ${most}`);
      }
      // quick() is a safe shortcut: it says no only when moves() finds nothing.
      const onNodes = all.flatMap((n, i) => Array.from({ length: perNode[i]! }, () => n));
      if (!rebalancer.quick(service, onNodes, onNodes.length)) assert.deepEqual(moves, []);
    }), { numRuns: 400 });
  });
});
