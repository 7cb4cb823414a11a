import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Constraint } from './constraints.ts';
import { parseConstraints } from './constraints.ts';
import { makeNode, makeService, makeTask } from './fixtures.ts';
import { globalEligibleNodes, planGlobal } from './global.ts';
import { MemoryView } from './view.ts';

const agent = (constraints: readonly string[] = []) => makeService('agent', { global: true, constraints });
const viewOf = (...nodes: ReturnType<typeof makeNode>[]) => new MemoryView({ nodes, tasks: [], volumes: [] });

describe('planGlobal', () => {
  it('finds the eligible nodes without a live task', () => {
    const view = viewOf(makeNode('n3'), makeNode('n1'), makeNode('n2'), makeNode('n4', { availability: 'pause' }), makeNode('n5', { status: 'down' }));
    const tasks = [
      makeTask('t1', 'agent', { nodeId: 'n1', state: 'running' }),
      makeTask('t2', 'agent', { nodeId: 'n2', state: 'failed' }),
      makeTask('t3', 'agent', { nodeId: 'n3', state: 'running', desiredState: 'shutdown' }),
      makeTask('t4', 'other', { nodeId: 'n3', state: 'running' }),
    ];
    const plan = planGlobal(view, agent(), tasks);
    assert.deepEqual(plan.nodesLackingTask, ['n2', 'n3']);
    assert.deepEqual(plan.tasksToRemove, []);
    assert.equal(plan.error, null);
  });

  it('a pending task that names its node counts as that node\'s task', () => {
    const plan = planGlobal(viewOf(makeNode('n1')), agent(), [makeTask('t1', 'agent', { nodeId: 'n1', state: 'pending' })]);
    assert.deepEqual(plan.nodesLackingTask, []);
  });

  it('removes tasks from nodes that left, were drained, went down or stopped matching', () => {
    const view = viewOf(makeNode('n1', { availability: 'drain' }), makeNode('n2', { status: 'down' }), makeNode('n3', { labels: { gpu: 'false' } }), makeNode('n4', { availability: 'pause' }), makeNode('n5', { status: 'unknown' }));
    const tasks = ['n1', 'n2', 'n3', 'n4', 'n5', 'n9'].map((node, i) => makeTask(`t${i + 1}`, 'agent', { nodeId: node, state: 'running' }));
    const plan = planGlobal(view, agent(['node.labels.gpu!=false']), tasks);
    assert.deepEqual(plan.tasksToRemove, [
      { taskId: 't1', nodeId: 'n1', cause: 'node-drained', reason: 'node n1 is drained' },
      { taskId: 't2', nodeId: 'n2', cause: 'node-down', reason: 'node n2 is down' },
      { taskId: 't3', nodeId: 'n3', cause: 'constraints', reason: 'node n3 no longer satisfies constraint node.labels.gpu!=false' },
      { taskId: 't6', nodeId: 'n9', cause: 'node-removed', reason: 'node n9 is no longer in the cluster' },
    ]);
    assert.deepEqual(plan.nodesLackingTask, [], 'paused and unknown nodes keep their task but get no new one');
  });

  it('lists the extra live tasks on a node, keeping the running one', () => {
    const tasks = [
      makeTask('a', 'agent', { nodeId: 'n1', state: 'starting', specVersion: 3 }),
      makeTask('b', 'agent', { nodeId: 'n1', state: 'running', specVersion: 2 }),
      makeTask('c', 'agent', { nodeId: 'n1', state: 'pending', specVersion: 3 }),
    ];
    assert.deepEqual(planGlobal(viewOf(makeNode('n1')), agent(), tasks).extraTasks, ['a', 'c']);
  });

  it('plans nothing while a constraint is bad', () => {
    const plan = planGlobal(viewOf(makeNode('n1')), agent(['node.labels.zone']), [makeTask('t', 'agent', { nodeId: 'n9', state: 'running' })]);
    assert.deepEqual([plan.nodesLackingTask, plan.tasksToRemove, plan.extraTasks], [[], [], []]);
    assert.match(plan.error!, /^invalid placement constraint "node.labels.zone": it has no operator/);
  });

  it('globalEligibleNodes: active, ready and matching, sorted', () => {
    const view = viewOf(makeNode('n2', { role: 'manager' }), makeNode('n1'), makeNode('n0', { availability: 'drain' }));
    assert.deepEqual(globalEligibleNodes(view, parseConstraints(['node.role!=manager']) as readonly Constraint[]), ['n1']);
  });
});
