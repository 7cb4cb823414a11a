// The worker session's routing on its own (no runtime, no tasks): which manager each heartbeat goes
// to as answers come, go missing, redirect, or arrive late. The outbox and views are exercised with
// a runtime in sim/orchestration/worker.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ManagerMessage, WorkerHeartbeat } from '../manager/worker-protocol.ts';
import type { NodeId } from '../state/types.ts';
import { WorkerSession } from './session.ts';

const managers = ['m1', 'm2', 'm3'] as NodeId[];

function session(incarnation = 0) {
  const sent: { manager: number; message: WorkerHeartbeat }[] = [];
  let nowUs = 0;
  const s = new WorkerSession('w1' as NodeId, { name: 'w1', resources: { cpuMillis: 1000, memoryBytes: 1 << 30 }, labels: {}, address: 'w1:1' }, incarnation, 3, 0, () => 0.5, false,
    { disconnectAfterUs: 2_000_000, maxOutboxReports: 10, maxReportsPerHeartbeat: 10, adoptOn: 'first-view', agent: {} },
    {
      nowUs: () => nowUs,
      send: (manager, message) => sent.push({ manager, message }),
      managerIndex: (id) => managers.indexOf(id),
      scheduleWake: () => {},
      perform: () => {},
      list: () => [],
    });
  return { s, sent, advance: (us: number) => (nowUs += us) };
}

const view = (from: string, term: number, seq: number, incarnation = 0): ManagerMessage =>
  ({ type: 'assignments', from: from as NodeId, leader: from as NodeId, term, incarnation, seq, assignments: [] });

test('an unanswered heartbeat moves the next one to the next manager; a redirect is followed at once, once', () => {
  const { s, sent } = session();
  s.heartbeat();
  s.heartbeat(); // the first went unanswered
  assert.deepEqual(sent.map((x) => x.manager), [0, 1]);
  s.receive({ type: 'redirect', from: 'm2' as NodeId, leader: 'm3' as NodeId, incarnation: 0, seq: 2 });
  assert.deepEqual(sent.map((x) => x.manager), [0, 1, 2], 'followed the redirect to m3 at once');
  s.receive({ type: 'redirect', from: 'm3' as NodeId, leader: 'm1' as NodeId, incarnation: 0, seq: 3 });
  assert.equal(sent.length, 3, 'a second redirect in one period waits for the next heartbeat');
  assert.equal(s.currentManager(), 0);
  assert.equal(s.counts.managerSwitches, 1);
  assert.equal(s.counts.redirects, 2);
});

test('views older than one accepted, or meant for another incarnation, are ignored', () => {
  const { s } = session(4);
  s.heartbeat();
  s.heartbeat();
  s.receive(view('m1', 3, 2, 4));
  s.receive(view('m1', 3, 1, 4));
  s.receive(view('m1', 2, 9, 4));
  s.receive(view('m1', 5, 9, 3));
  assert.equal(s.counts.viewsAccepted, 1);
  assert.equal(s.counts.viewsStale, 2);
});

test('no view for longer than the bound tells the agent it is cut off; the next view reconnects it', () => {
  const { s, advance } = session();
  advance(2_500_000);
  s.heartbeat();
  assert.equal(s.agent.status().connected, false);
  assert.equal(s.counts.disconnects, 1);
  s.receive(view('m1', 1, 1));
  assert.equal(s.agent.status().connected, true);
});
