import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeId, ServiceId } from '../state/types.ts';
import { makeNode, makeSpec, makeTask, makeVolume, mebibytes } from './fixtures.ts';
import { MemoryView, holdsNode } from './view.ts';

const n = (id: string): NodeId => id as NodeId;
const s = (id: string): ServiceId => id as ServiceId;

describe('MemoryView', () => {
  const web = makeSpec({ reservations: { cpuMillis: 500, memoryBytes: mebibytes(256) }, ports: [{ published: 8080, protocol: 'tcp', mode: 'host' }, { published: 9090, mode: 'ingress' }] });
  const view = new MemoryView({
    nodes: [makeNode('n2'), makeNode('n1'), makeNode('n3')],
    tasks: [
      { task: makeTask('t1', 'web', { nodeId: 'n1', state: 'running' }), spec: web },
      { task: makeTask('t2', 'web', { nodeId: 'n1', state: 'assigned' }), spec: web },
      { task: makeTask('t3', 'db', { nodeId: 'n1', state: 'starting' }), spec: makeSpec({ reservations: { cpuMillis: 1000, memoryBytes: 0 } }) },
      { task: makeTask('t4', 'web', { nodeId: 'n2', state: 'failed' }), spec: web },
      { task: makeTask('t5', 'web', { nodeId: 'n2', state: 'pending' }), spec: web },
      { task: makeTask('t6', 'web', { nodeId: null, state: 'pending' }), spec: web },
      { task: makeTask('t7', 'web', { nodeId: 'gone', state: 'running' }), spec: web },
    ],
    volumes: [makeVolume('data', 'n3'), makeVolume('cache')],
  });

  it('lists the nodes sorted by id', () => {
    assert.deepEqual(view.nodes().map((node) => node.id), ['n1', 'n2', 'n3']);
  });

  it('sums the reservations of the tasks holding each node', () => {
    assert.deepEqual(view.reserved(n('n1')), { cpuMillis: 2000, memoryBytes: mebibytes(512) });
    assert.deepEqual(view.reserved(n('n2')), { cpuMillis: 0, memoryBytes: 0 });
  });

  it('counts tasks per node and per service, ignoring terminal, pending and unassigned ones', () => {
    assert.equal(view.taskCount(n('n1')), 3);
    assert.equal(view.serviceTaskCount(n('n1'), s('web')), 2);
    assert.equal(view.serviceTaskCount(n('n1'), s('db')), 1);
    assert.equal(view.taskCount(n('n2')), 0);
    assert.equal(view.taskCount(n('nope')), 0);
  });

  it('knows the host-mode published ports in use, by protocol', () => {
    assert.ok(view.hostPortInUse(n('n1'), 'tcp', 8080));
    assert.ok(!view.hostPortInUse(n('n1'), 'udp', 8080));
    assert.ok(!view.hostPortInUse(n('n1'), 'tcp', 9090), 'ingress-mode ports hold no host port');
    assert.ok(!view.hostPortInUse(n('n2'), 'tcp', 8080));
  });

  it('maps volumes to their node, null while unbound, undefined when unknown', () => {
    assert.equal(view.volumeNode('data'), 'n3');
    assert.equal(view.volumeNode('cache'), null);
    assert.equal(view.volumeNode('nope'), undefined);
  });

  it('records later placements and bindings', () => {
    const later = new MemoryView({ nodes: [makeNode('n1')], tasks: [], volumes: [makeVolume('cache')] });
    later.add({ task: makeTask('t1', 'web', { nodeId: 'n1', state: 'assigned' }), spec: web });
    later.bindVolume('cache', n('n1'));
    assert.equal(later.serviceTaskCount(n('n1'), s('web')), 1);
    assert.equal(later.volumeNode('cache'), 'n1');
  });

  it('holdsNode: assigned, starting and running tasks with a node', () => {
    for (const state of ['assigned', 'starting', 'running'] as const) assert.ok(holdsNode(makeTask('t', 'x', { nodeId: 'n1', state })));
    for (const state of ['new', 'pending', 'complete', 'failed', 'shutdown', 'rejected', 'orphaned'] as const) {
      assert.ok(!holdsNode(makeTask('t', 'x', { nodeId: 'n1', state })), state);
    }
    assert.ok(!holdsNode(makeTask('t', 'x', { nodeId: null, state: 'running' })));
  });
});
