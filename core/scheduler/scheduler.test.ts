import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterNode, Service, Task, Volume } from '../state/types.ts';
import { makeNode, makeService, makeSpec, makeTask, makeVolume, mebibytes, pendingTasks } from './fixtures.ts';
import type { ServiceOptions } from './fixtures.ts';
import { maxBatchTasks, schedule } from './scheduler.ts';
import type { Decision } from './scheduler.ts';
import { MemoryView } from './view.ts';
import type { ViewTask } from './view.ts';

interface Cluster {
  readonly nodes: readonly ClusterNode[];
  readonly existing?: readonly ViewTask[];
  readonly volumes?: readonly Volume[];
}

function place(cluster: Cluster, service: Service, tasks: readonly Task[]): Decision[] {
  const view = new MemoryView({ nodes: cluster.nodes, tasks: cluster.existing ?? [], volumes: cluster.volumes ?? [] });
  return schedule(view, service, tasks);
}

function replicated(cluster: Cluster, count: number, options: ServiceOptions = {}): Decision[] {
  return place(cluster, makeService('web', options), pendingTasks('web', count));
}

/** Node id per placed task, in decision order; a reason for an unschedulable one. */
const outcomes = (decisions: readonly Decision[]): string[] => decisions.map((d) => (d.type === 'placed' ? d.nodeId : `! ${d.reason}`));

function perNode(decisions: readonly Decision[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const d of decisions) if (d.type === 'placed') counts[d.nodeId] = (counts[d.nodeId] ?? 0) + 1;
  return counts;
}

const reasons = (decisions: readonly Decision[]): string[] => decisions.flatMap((d) => (d.type === 'unschedulable' ? [d.reason] : []));

const running = (id: string, service: string, node: string, options: ServiceOptions = {}): ViewTask =>
  ({ task: makeTask(id, service, { nodeId: node, state: 'running' }), spec: makeSpec(options) });

const three = [makeNode('n1'), makeNode('n2'), makeNode('n3')];

describe('schedule: filters', () => {
  it('skips drained, paused, down and unknown nodes', () => {
    const nodes = [
      makeNode('n1', { availability: 'drain' }), makeNode('n2', { availability: 'pause' }),
      makeNode('n3', { status: 'down' }), makeNode('n4', { status: 'unknown' }), makeNode('n5'),
    ];
    assert.deepEqual(outcomes(replicated({ nodes }, 3)), ['n5', 'n5', 'n5']);
  });

  it('names availability, then status, when no node is left', () => {
    const drained = [makeNode('n1', { availability: 'drain' }), makeNode('n2', { availability: 'pause' }), makeNode('n3', { availability: 'drain' })];
    assert.deepEqual(reasons(replicated({ nodes: drained }, 1)), ['no node is active (2 drained, 1 paused)']);
    const down = [makeNode('n1', { status: 'down' }), makeNode('n2', { status: 'unknown' }), makeNode('n3', { availability: 'drain' })];
    assert.deepEqual(reasons(replicated({ nodes: down }, 1)), ['no active node is ready (1 down, 1 status unknown)']);
    assert.deepEqual(reasons(replicated({ nodes: [] }, 2)), ['no node in the cluster', 'no node in the cluster']);
  });

  it('places only on nodes that satisfy every constraint', () => {
    const nodes = [
      makeNode('n1', { role: 'manager', labels: { zone: 'east' } }), makeNode('n2', { labels: { zone: 'east' } }),
      makeNode('n3', { labels: { zone: 'west' } }), makeNode('n4', { name: 'edge-4', labels: { zone: 'east' } }),
    ];
    const options = { constraints: ['node.labels.zone==east', 'node.role!=manager'] };
    assert.deepEqual(perNode(replicated({ nodes }, 4, options)), { n2: 2, n4: 2 });
    assert.deepEqual(perNode(replicated({ nodes }, 2, { constraints: ['node.hostname==edge-4'] })), { n4: 2 });
    assert.deepEqual(perNode(replicated({ nodes }, 1, { constraints: ['node.id==n3'] })), { n3: 1 });
  });

  it('names the constraint no node satisfies, or the combination', () => {
    const nodes = [makeNode('n1', { role: 'manager', labels: { zone: 'west' } }), makeNode('n2', { labels: { zone: 'west' } })];
    assert.deepEqual(reasons(replicated({ nodes }, 1, { constraints: ['node.labels.zone==east'] })), ['no node satisfies constraint node.labels.zone==east']);
    assert.deepEqual(reasons(replicated({ nodes }, 1, { constraints: ['node.role!=worker', 'node.labels.gpu==true'] })), ['no node satisfies constraint node.labels.gpu==true']);
    assert.deepEqual(reasons(replicated({ nodes }, 1, { constraints: ['node.role==manager', 'node.id==n2'] })), ['no node satisfies constraints node.role==manager, node.id==n2 together']);
  });

  it('reports a bad constraint or preference in the spec as the reason', () => {
    assert.match(reasons(replicated({ nodes: three }, 1, { constraints: ['zone==east'] }))[0]!, /^invalid placement constraint "zone==east": unknown attribute/);
    assert.match(reasons(replicated({ nodes: three }, 1, { spread: ['zone'] }))[0]!, /^invalid spread preference "zone"/);
  });

  it('needs free memory and cpu for the reservations', () => {
    const nodes = [makeNode('n1', { resources: { cpuMillis: 1000, memoryBytes: mebibytes(1024) } }), makeNode('n2', { resources: { cpuMillis: 4000, memoryBytes: mebibytes(256) } })];
    const existing = [running('old', 'db', 'n1', { reservations: { cpuMillis: 0, memoryBytes: mebibytes(768) } })];
    const needs = { reservations: { cpuMillis: 100, memoryBytes: mebibytes(512) } };
    assert.deepEqual(reasons(replicated({ nodes, existing }, 1, needs)), ['insufficient memory: needs 512 MiB, most free on any eligible node is 256 MiB']);
    const cpu = { reservations: { cpuMillis: 4500, memoryBytes: mebibytes(64) } };
    assert.deepEqual(reasons(replicated({ nodes, existing }, 1, cpu)), ['insufficient cpu: needs 4.5 CPUs, most free on any eligible node is 4 CPUs']);
    const both = { reservations: { cpuMillis: 2000, memoryBytes: mebibytes(300) } };
    assert.deepEqual(reasons(replicated({ nodes }, 1, both)), ['insufficient resources: no eligible node has both 2 CPUs and 300 MiB free']);
  });

  it('fills nodes to their resources and then says why the rest wait', () => {
    const nodes = three.map((node) => ({ ...node, resources: { cpuMillis: 4000, memoryBytes: mebibytes(1024) } }));
    const decisions = replicated({ nodes }, 7, { reservations: { cpuMillis: 0, memoryBytes: mebibytes(500) } });
    assert.deepEqual(perNode(decisions), { n1: 2, n2: 2, n3: 2 });
    assert.deepEqual(reasons(decisions), ['insufficient memory: needs 500 MiB, most free on any eligible node is 24 MiB']);
  });

  it('never prints a shortfall as enough', () => {
    const nodes = [makeNode('n1', { resources: { cpuMillis: 1000, memoryBytes: mebibytes(512) - 1 } })];
    assert.deepEqual(reasons(replicated({ nodes }, 1, { reservations: { cpuMillis: 0, memoryBytes: mebibytes(512) } })), [
      'insufficient memory: needs 512 MiB, most free on any eligible node is 511.9 MiB',
    ]);
  });
});

describe('schedule: host ports', () => {
  const port = { ports: [{ published: 8080, protocol: 'tcp' as const, mode: 'host' as const }] };

  it('avoids nodes where a task already publishes the port', () => {
    const existing = [running('old', 'proxy', 'n1', port)];
    assert.deepEqual(outcomes(replicated({ nodes: three, existing }, 2, port)), ['n2', 'n3']);
  });

  it('counts the tasks placed earlier in the same batch', () => {
    const decisions = replicated({ nodes: three }, 4, port);
    assert.deepEqual(perNode(decisions), { n1: 1, n2: 1, n3: 1 });
    assert.deepEqual(reasons(decisions), ['host port 8080/tcp is in use on every eligible node']);
  });

  it('tells protocols apart and ignores ingress-mode ports', () => {
    const existing = [running('old', 'dns', 'n1', { ports: [{ published: 8080, protocol: 'udp', mode: 'host' }] })];
    assert.equal(perNode(replicated({ nodes: [makeNode('n1')], existing }, 1, port)).n1, 1);
    const ingress = { ports: [{ published: 8080, protocol: 'tcp' as const, mode: 'ingress' as const }] };
    assert.deepEqual(perNode(replicated({ nodes: [makeNode('n1')] }, 3, ingress)), { n1: 3 });
  });

  it('when no single port is taken everywhere, names the set of ports', () => {
    const nodes = [makeNode('n1'), makeNode('n2')];
    const existing = [running('a', 'x', 'n1', { ports: [{ published: 80 }] }), running('b', 'y', 'n2', { ports: [{ published: 443 }] })];
    assert.deepEqual(reasons(replicated({ nodes, existing }, 1, { ports: [{ published: 80 }, { published: 443 }, { published: 80 }] })), [
      'host ports 80/tcp, 443/tcp: no eligible node with room for the task has all of them free',
    ]);
  });

  it('names resources before ports when both rule nodes out', () => {
    const nodes = [makeNode('n1', { resources: { cpuMillis: 1000, memoryBytes: mebibytes(100) } }), makeNode('n2')];
    const existing = [running('old', 'proxy', 'n2', port)];
    assert.deepEqual(reasons(replicated({ nodes, existing }, 1, { ...port, reservations: { cpuMillis: 0, memoryBytes: mebibytes(200) } })), [
      'host port 8080/tcp is in use on every eligible node with room for the task',
    ]);
  });
});

describe('schedule: volumes', () => {
  it('places every task mounting a bound volume on its node', () => {
    const volumes = [makeVolume('data', 'n2')];
    const decisions = replicated({ nodes: three, volumes }, 3, { volumes: ['data'] });
    assert.deepEqual(outcomes(decisions), ['n2', 'n2', 'n2']);
    assert.ok(decisions.every((d) => d.type === 'placed' && d.bindVolumes.length === 0));
  });

  it('binds an unbound volume with the first placement and keeps the batch beside it', () => {
    const volumes = [makeVolume('data'), makeVolume('logs')];
    const decisions = replicated({ nodes: three, volumes }, 3, { volumes: ['data', 'logs'] });
    assert.deepEqual(outcomes(decisions), ['n1', 'n1', 'n1']);
    assert.deepEqual(decisions.map((d) => (d.type === 'placed' ? d.bindVolumes : null)), [['data', 'logs'], [], []]);
  });

  it('an unbound volume goes where a bound one of the same task is', () => {
    const volumes = [makeVolume('data', 'n3'), makeVolume('logs')];
    const decisions = replicated({ nodes: three, volumes }, 1, { volumes: ['logs', 'data'] });
    assert.deepEqual(decisions, [{ type: 'placed', taskId: 'web.000001', nodeId: 'n3', bindVolumes: ['logs'] }]);
  });

  it('says where the volume is and what is wrong with that node', () => {
    const nodes = [makeNode('n1'), makeNode('n2', { status: 'down' }), makeNode('n3', { availability: 'drain' }), makeNode('n4', { role: 'manager' })];
    const volumes = [makeVolume('data', 'n3'), makeVolume('down', 'n2'), makeVolume('lost', 'n9'), makeVolume('mgr', 'n4'), makeVolume('other', 'n1')];
    const reason = (options: ServiceOptions): string => reasons(replicated({ nodes, volumes }, 1, options))[0]!;
    assert.equal(reason({ volumes: ['data'] }), 'volume data is on node n3, which is drained');
    assert.equal(reason({ volumes: ['down'] }), 'volume down is on node n2, which is down');
    assert.equal(reason({ volumes: ['lost'] }), 'volume lost is on node n9, which is not in the cluster');
    assert.equal(reason({ volumes: ['mgr'], constraints: ['node.role!=manager'] }), 'volume mgr is on node n4, which does not satisfy constraint node.role!=manager');
    assert.equal(reason({ volumes: ['nope'] }), 'volume nope does not exist');
    assert.equal(reason({ volumes: ['other', 'mgr'] }), 'volumes other and mgr are on different nodes (n1 and n4), and a task mounting both must run beside both');
    assert.equal(reason({ volumes: ['mgr'], reservations: { cpuMillis: 8000, memoryBytes: 0 } }), 'insufficient cpu on node n4 (where volume mgr is): needs 8 CPUs, 4 CPUs free');
  });

  it('once bound in a batch, the rest wait for room on that node', () => {
    const nodes = three.map((node) => ({ ...node, resources: { cpuMillis: 4000, memoryBytes: mebibytes(1024) } }));
    const decisions = replicated({ nodes, volumes: [makeVolume('data')] }, 3, { volumes: ['data'], reservations: { cpuMillis: 0, memoryBytes: mebibytes(400) } });
    assert.deepEqual(outcomes(decisions), ['n1', 'n1', '! insufficient memory on node n1 (where volume data is): needs 400 MiB, 224 MiB free']);
  });
});

describe('schedule: scoring', () => {
  it('spreads 6 tasks over 3 equal nodes, 2 each', () => {
    assert.deepEqual(perNode(replicated({ nodes: three }, 6)), { n1: 2, n2: 2, n3: 2 });
  });

  it('fills the nodes with the fewest tasks of the service first', () => {
    const existing = [running('a', 'web', 'n1'), running('b', 'web', 'n1'), running('c', 'web', 'n2')];
    assert.deepEqual(outcomes(replicated({ nodes: three, existing }, 3)), ['n3', 'n2', 'n3']);
  });

  it('then spreads over the values of a preference, nodes without the label forming a group', () => {
    const nodes = [
      makeNode('n1', { labels: { zone: 'east' } }), makeNode('n2', { labels: { zone: 'east' } }), makeNode('n3', { labels: { zone: 'east' } }),
      makeNode('n4', { labels: { zone: 'west' } }), makeNode('n5'),
    ];
    assert.deepEqual(outcomes(replicated({ nodes }, 3)), ['n1', 'n2', 'n3'], 'without the preference: node order');
    assert.deepEqual(outcomes(replicated({ nodes }, 3, { spread: ['node.labels.zone'] })), ['n1', 'n4', 'n5']);
  });

  it('counts tasks already in a zone when spreading', () => {
    const nodes = [makeNode('e1', { labels: { zone: 'east' } }), makeNode('e2', { labels: { zone: 'east' } }), makeNode('w1', { labels: { zone: 'west' } }), makeNode('w2', { labels: { zone: 'west' } })];
    const existing = [running('a', 'web', 'e1')];
    assert.deepEqual(outcomes(replicated({ nodes, existing }, 3, { spread: ['node.labels.zone'] })), ['w1', 'e2', 'w2']);
  });

  it('nests preferences: the second spreads within the groups of the first', () => {
    const nodes = [
      makeNode('a', { labels: { zone: 'east', rack: 'r1' } }), makeNode('b', { labels: { zone: 'east', rack: 'r1' } }), makeNode('c', { labels: { zone: 'east', rack: 'r2' } }),
      makeNode('d', { labels: { zone: 'west', rack: 'r1' } }), makeNode('e', { labels: { zone: 'west', rack: 'r1' } }),
    ];
    const existing = [running('x', 'web', 'a'), running('y', 'web', 'd')];
    assert.deepEqual(outcomes(replicated({ nodes, existing }, 2, { spread: ['node.labels.zone', 'node.labels.rack'] })), ['c', 'e']);
  });

  it('nests preferences: groups tied at the first go to the emptier group at the second, before node load', () => {
    const empty = { cpuMillis: 0, memoryBytes: 0 };
    const nodes = [
      makeNode('n00', { labels: { zone: 'b' }, resources: empty }),
      makeNode('n01', { labels: { zone: 'a', tier: 'db' }, resources: empty }),
      makeNode('n02', { labels: { zone: 'b', tier: 'web' }, resources: empty }),
      makeNode('n03', { labels: { zone: 'a', tier: 'db' }, resources: { cpuMillis: 0, memoryBytes: mebibytes(256) } }),
    ];
    // Third task: zones a and b hold one each; a's only tier group holds one, b's web tier none.
    assert.deepEqual(outcomes(replicated({ nodes }, 3, { spread: ['node.labels.zone', 'node.labels.tier'] })), ['n03', 'n00', 'n02']);
  });

  it('then prefers the least loaded node: fewest tasks, then most free memory, then id', () => {
    const nodes = [makeNode('n1'), makeNode('n2'), makeNode('n3'), makeNode('n4')];
    const existing = [running('a', 'db', 'n1'), running('b', 'db', 'n2', { reservations: { cpuMillis: 0, memoryBytes: mebibytes(10) } }), running('c', 'db', 'n3', { reservations: { cpuMillis: 0, memoryBytes: mebibytes(5) } })];
    assert.deepEqual(outcomes(replicated({ nodes, existing }, 4)), ['n4', 'n1', 'n3', 'n2']);
  });

  it('is deterministic and ignores the order of the tasks given', () => {
    const nodes = Array.from({ length: 9 }, (_, i) => makeNode(`n${i}`, { labels: { zone: `z${i % 3}` } }));
    const service = makeService('web', { spread: ['node.labels.zone'], reservations: { cpuMillis: 300, memoryBytes: mebibytes(100) } });
    const tasks = pendingTasks('web', 40);
    const first = place({ nodes }, service, tasks);
    assert.deepEqual(place({ nodes }, service, tasks), first);
    const shuffled = [...tasks].sort((a, b) => ((a.id.charCodeAt(9) * 7919) % 13) - ((b.id.charCodeAt(9) * 7919) % 13));
    assert.deepEqual(place({ nodes: [...nodes].reverse() }, service, shuffled), first);
  });

  it('returns the decisions by slot, then task id', () => {
    const tasks = [makeTask('b', 'web', { slot: 2 }), makeTask('a', 'web', { slot: 3 }), makeTask('c', 'web', { slot: 1 })];
    assert.deepEqual(place({ nodes: three }, makeService('web'), tasks).map((d) => d.taskId), ['c', 'b', 'a']);
  });
});

describe('schedule: global services', () => {
  const global = (options: ServiceOptions = {}): Service => makeService('agent', { ...options, global: true });
  const forNodes = (...ids: string[]): Task[] => ids.map((id) => makeTask(`agent.${id}`, 'agent', { nodeId: id }));

  it('places each task on its own node', () => {
    assert.deepEqual(outcomes(place({ nodes: three }, global(), forNodes('n3', 'n1'))), ['n1', 'n3']);
  });

  it('says what is wrong with the task\'s node', () => {
    const nodes = [makeNode('n1', { availability: 'drain' }), makeNode('n2', { status: 'unknown' }), makeNode('n3', { role: 'manager' }), makeNode('n4', { resources: { cpuMillis: 500, memoryBytes: mebibytes(64) } })];
    const decisions = place({ nodes }, global({ constraints: ['node.role!=manager'], reservations: { cpuMillis: 0, memoryBytes: mebibytes(128) } }), forNodes('n1', 'n2', 'n3', 'n4', 'n9'));
    assert.deepEqual(reasons(decisions), [
      'node n1 is drained', 'node n2 has status unknown', 'node n3 does not satisfy constraint node.role!=manager',
      'insufficient memory on node n4: needs 128 MiB, 64 MiB free', 'node n9 is not in the cluster',
    ]);
  });

  it('keeps host ports and volumes consistent across the batch', () => {
    const existing = [running('old', 'proxy', 'n2', { ports: [{ published: 53, protocol: 'udp', mode: 'host' }] })];
    const decisions = place({ nodes: three, existing }, global({ ports: [{ published: 53, protocol: 'udp', mode: 'host' }] }), forNodes('n1', 'n2'));
    assert.deepEqual(outcomes(decisions), ['n1', '! host port 53/udp is in use on node n2']);
    const withVolume = place({ nodes: three, volumes: [makeVolume('state')] }, global({ volumes: ['state'] }), forNodes('n1', 'n2'));
    assert.deepEqual(withVolume, [
      { type: 'placed', taskId: 'agent.n1', nodeId: 'n1', bindVolumes: ['state'] },
      { type: 'unschedulable', taskId: 'agent.n2', reason: 'volume state is on node n1, but this task of global service web is for node n2' },
    ]);
  });

  it('a global task mounting a volume that does not exist is refused', () => {
    assert.deepEqual(reasons(place({ nodes: three }, global({ volumes: ['gone'] }), forNodes('n1'))), ['volume gone does not exist']);
  });

  it('a global task without a node is refused', () => {
    assert.deepEqual(reasons(place({ nodes: three }, global(), [makeTask('t', 'agent')])), ['task t of global service web names no node']);
  });
});

describe('schedule: caller errors', () => {
  it('asserts the tasks belong to the service, once each, within the batch bound', () => {
    assert.throws(() => place({ nodes: three }, makeService('web'), [makeTask('t', 'db')]), /task t is of service db, not web/);
    assert.throws(() => place({ nodes: three }, makeService('web'), [makeTask('t', 'web'), makeTask('t', 'web')]), /task t given twice/);
    assert.throws(() => place({ nodes: three }, makeService('web'), pendingTasks('web', maxBatchTasks + 1)), /exceed the batch bound/);
  });

  it('an empty batch decides nothing', () => {
    assert.deepEqual(place({ nodes: three }, makeService('web'), []), []);
  });
});
