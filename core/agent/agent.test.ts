import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvariantError } from '../assert.ts';
import type { NodeId, TaskId } from '../state/types.ts';
import { Agent } from './agent.ts';
import { assignment, drive, FakeRuntime, httpCheck, testNode } from './fake-runtime.ts';
import type { AgentOptions } from './types.ts';

const ms = 1_000;
const id = (s: string): TaskId => s as TaskId;

function newAgent(options: Partial<AgentOptions> = {}): Agent {
  return new Agent({ nodeId: testNode, random: () => 0.5, ...options });
}

const states = (agent: Agent): string[] => agent.takeReports().map((r) => `${r.taskId}:${r.state}`);
const taskStatus = (agent: Agent, taskId: string) => agent.status().tasks.find((t) => t.taskId === taskId);

describe('starting a task', () => {
  test('a running assignment is pulled, created and started, reporting assigned, starting, running in order', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1')], 0);
    drive(agent, runtime, 0);
    assert.deepEqual(runtime.performed.map((a) => a.type), ['pull', 'create', 'start']);
    assert.deepEqual(states(agent), ['t1:assigned', 't1:starting', 't1:running']);
    assert.equal(taskStatus(agent, 't1')?.phase, 'running');
    assert.equal(agent.tick(1_000 * ms), Infinity);
  });

  test('a missing image is rejected with the runtime message and never created', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1', { image: 'registry/app:missing' })], 0);
    drive(agent, runtime, 0);
    const last = agent.takeReports().at(-1)!;
    assert.equal(last.state, 'rejected');
    assert.equal(last.message, 'image registry/app:missing not found in registry');
    assert.equal(runtime.countOf('create'), 0);
  });

  test('a pull failure of an existing image fails the task with the message and is not retried while connected', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1', { image: 'registry/app:flaky' })], 0);
    drive(agent, runtime, 0);
    const last = agent.takeReports().at(-1)!;
    assert.deepEqual([last.state, last.message], ['failed', 'pulling registry/app:flaky: connection reset by registry']);
    assert.equal(agent.tick(3_600_000 * ms), Infinity);
    drive(agent, runtime, 3_600_000 * ms);
    assert.equal(runtime.countOf('pull'), 1);
  });

  test('a start failure fails the task with the message and removes what the runtime kept', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1', { image: 'registry/app:nostart' })], 0);
    drive(agent, runtime, 0);
    const last = agent.takeReports().at(-1)!;
    assert.deepEqual([last.state, last.message], ['failed', 'OCI runtime create failed: exec format error']);
    assert.deepEqual(runtime.performed.map((a) => a.type), ['pull', 'create', 'start', 'remove']);
    assert.equal(runtime.containers.size, 0);
  });
});

describe('a container that exits on its own', () => {
  test('a crash reports failed with the exit code, removes the container, and is not restarted while connected', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1')], 0);
    drive(agent, runtime, 0);
    agent.takeReports();
    runtime.crash(id('t1'), 2);
    drive(agent, runtime, 5 * ms);
    assert.deepEqual(agent.takeReports(), [{ taskId: 't1', state: 'failed', exitCode: 2, message: 'exited with code 2', atUs: 5 * ms }]);
    assert.equal(runtime.countOf('remove', id('t1')), 1);
    assert.equal(agent.tick(3_600_000 * ms), Infinity);
    drive(agent, runtime, 3_600_000 * ms);
    assert.equal(runtime.countOf('create'), 1);
  });

  test('an OOM kill says so in the failure message', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1')], 0);
    drive(agent, runtime, 0);
    agent.takeReports();
    runtime.crash(id('t1'), 137, true);
    drive(agent, runtime, 1);
    const [report] = agent.takeReports();
    assert.equal(report.state, 'failed');
    assert.equal(report.exitCode, 137);
    assert.match(report.message, /OOM killed/);
  });

  test('a clean exit reports complete', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1')], 0);
    drive(agent, runtime, 0);
    agent.takeReports();
    runtime.crash(id('t1'), 0);
    drive(agent, runtime, 1);
    assert.deepEqual(agent.takeReports().map((r) => [r.state, r.exitCode]), [['complete', 0]]);
  });
});

describe('health checks', () => {
  test('probes begin after the start period, one per interval', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1', { healthCheck: httpCheck({ startPeriodMs: 5_000, intervalMs: 1_000 }) })], 0);
    drive(agent, runtime, 0);
    assert.deepEqual(states(agent), ['t1:assigned', 't1:starting', 't1:running']);
    assert.equal(agent.tick(5_999 * ms), 6_000 * ms);
    assert.equal(runtime.countOf('probe') + agent.takeActions().length, 0);
    assert.equal(agent.tick(6_000 * ms), Infinity, 'the probe in flight wakes the agent with its answer');
    drive(agent, runtime, 6_000 * ms);
    assert.equal(runtime.countOf('probe'), 1);
    assert.equal(agent.nextWakeUs(), 7_000 * ms);
    agent.tick(7_000 * ms);
    drive(agent, runtime, 7_000 * ms);
    assert.equal(runtime.countOf('probe'), 2);
    assert.equal(taskStatus(agent, 't1')?.healthFailures, 0);
  });

  test('failing its probe `retries` times stops the container with its grace, removes it and fails the task; never two probes in flight', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    runtime.answerProbes = false;
    const check = httpCheck({ intervalMs: 1_000, retries: 3 });
    agent.setAssignments([assignment('t1', { image: 'registry/app:unhealthy', healthCheck: check, stopGracePeriodMs: 7_000 })], 0);
    drive(agent, runtime, 0);
    agent.takeReports();
    // The runtime sits on the first probe for ten intervals: no second probe goes out meanwhile.
    for (let t = 1_000; t <= 11_000; t += 500) {
      agent.tick(t * ms);
      drive(agent, runtime, t * ms);
    }
    assert.equal(runtime.countOf('probe'), 1);
    assert.equal(taskStatus(agent, 't1')?.probeInFlight, true);
    runtime.answerProbes = true;
    runtime.releaseProbes();
    drive(agent, runtime, 11_000 * ms);
    assert.equal(taskStatus(agent, 't1')?.healthFailures, 1);
    for (let t = 12_000; t <= 20_000; t += 1_000) {
      agent.tick(t * ms);
      drive(agent, runtime, t * ms);
    }
    assert.equal(runtime.countOf('probe'), 3);
    const types = runtime.performed.map((a) => a.type);
    assert.deepEqual(types.slice(-2), ['stop', 'remove']);
    assert.deepEqual(runtime.performed.find((a) => a.type === 'stop'), { type: 'stop', taskId: 't1', graceMs: 7_000 });
    const reports = agent.takeReports();
    assert.deepEqual(reports.map((r) => [r.state, r.message]), [['failed', 'health check failed 3 times: HTTP 503']]);
    assert.equal(agent.tick(100_000 * ms), Infinity);
  });

  test('a healthy probe resets the count of consecutive failures', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1', { healthCheck: httpCheck({ retries: 2 }) })], 0);
    drive(agent, runtime, 0);
    agent.tick(1_000 * ms);
    const [probe] = agent.takeActions();
    assert.equal(probe.type, 'probe');
    agent.onRuntimeEvent({ type: 'probed', taskId: id('t1'), healthy: false, message: 'timed out' }, 1_001 * ms);
    agent.tick(2_000 * ms);
    agent.takeActions();
    agent.onRuntimeEvent({ type: 'probed', taskId: id('t1'), healthy: true, message: 'ok' }, 2_001 * ms);
    agent.tick(3_000 * ms);
    agent.takeActions();
    agent.onRuntimeEvent({ type: 'probed', taskId: id('t1'), healthy: false, message: 'timed out' }, 3_001 * ms);
    assert.equal(taskStatus(agent, 't1')?.healthFailures, 1);
    assert.equal(taskStatus(agent, 't1')?.phase, 'running');
  });
});

describe('shutting down', () => {
  test('desired shutdown stops with the grace period, then removes, then reports shutdown', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1', { stopGracePeriodMs: 3_000 })], 0);
    drive(agent, runtime, 0);
    agent.takeReports();
    agent.setAssignments([assignment('t1', { desiredState: 'shutdown', observedState: 'running', stopGracePeriodMs: 3_000 })], ms);
    const [stop] = agent.takeActions();
    assert.deepEqual(stop, { type: 'stop', taskId: 't1', graceMs: 3_000 });
    assert.deepEqual(agent.takeReports(), []); // not shut down until the container is gone
    runtime.perform(stop);
    drive(agent, runtime, 2 * ms);
    assert.deepEqual(runtime.performed.map((a) => a.type).slice(-2), ['stop', 'remove']);
    assert.deepEqual(states(agent), ['t1:shutdown']);
    assert.equal(runtime.containers.size, 0);
  });

  test('a task that leaves the assignments is stopped, removed, reported shut down and forgotten', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1'), assignment('t2')], 0);
    drive(agent, runtime, 0);
    agent.takeReports();
    agent.setAssignments([assignment('t2', { observedState: 'running' })], ms);
    drive(agent, runtime, ms);
    assert.deepEqual(states(agent), ['t1:shutdown']);
    assert.deepEqual(agent.status().tasks.map((t) => t.taskId), ['t2']);
    // A stale snapshot naming it again does not bring it back.
    agent.setAssignments([assignment('t1', { observedState: 'running' }), assignment('t2', { observedState: 'running' })], 2 * ms);
    drive(agent, runtime, 2 * ms);
    assert.equal(runtime.countOf('create', id('t1')), 1);
  });

  test('shutdown while the image is pulling creates nothing and reports shutdown once the pull returns', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1')], 0);
    for (const action of agent.takeActions()) runtime.perform(action);
    agent.setAssignments([assignment('t1', { desiredState: 'shutdown' })], ms);
    assert.deepEqual(agent.takeActions(), []);
    drive(agent, runtime, 2 * ms);
    assert.equal(runtime.countOf('create'), 0);
    assert.deepEqual(states(agent), ['t1:assigned', 't1:shutdown']);
  });

  test('a task the store already holds as terminal is stopped silently', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1')], 0);
    drive(agent, runtime, 0);
    agent.takeReports();
    agent.setAssignments([assignment('t1', { observedState: 'orphaned' })], ms);
    drive(agent, runtime, ms);
    assert.equal(runtime.containers.size, 0);
    assert.deepEqual(agent.takeReports(), []);
  });
});

describe('adopting containers after the agent restarts', () => {
  function runtimeHolding(): FakeRuntime {
    const before = newAgent();
    const runtime = new FakeRuntime();
    before.setAssignments([assignment('t1'), assignment('t2'), assignment('t4')], 0);
    drive(before, runtime, 0);
    runtime.containers.set(id('t5'), { state: 'created', image: 'registry/app:1', exitCode: null });
    runtime.crash(id('t4'), 3);
    runtime.takeEvents(); // the old agent process died before it saw the exit
    return runtime;
  }

  test('a running assigned container is adopted without a second create, an unassigned one is stopped and removed, a missing one is failed', () => {
    const runtime = runtimeHolding();
    const performedBefore = runtime.performed.length;
    const agent = newAgent({ restarted: true });
    agent.setAssignments([
      assignment('t1', { observedState: 'running' }),
      assignment('t3', { observedState: 'running' }),
      assignment('t4', { observedState: 'running' }),
    ], 10 * ms);
    assert.deepEqual(agent.takeActions(), [], 'a restarted agent waits for the inventory');
    agent.adopt(runtime.list(), 10 * ms);
    drive(agent, runtime, 10 * ms);
    const after = runtime.performed.slice(performedBefore);
    assert.equal(after.filter((a) => a.type === 'create' || a.type === 'pull').length, 0);
    assert.deepEqual(after.filter((a) => a.taskId === 't2').map((a) => a.type), ['stop', 'remove']);
    assert.deepEqual(after.filter((a) => a.taskId === 't5').map((a) => a.type), ['remove']);
    assert.deepEqual(after.filter((a) => a.taskId === 't4').map((a) => a.type), ['remove']);
    const reports = agent.takeReports();
    assert.deepEqual(reports.map((r) => [r.taskId, r.state, r.exitCode, r.message]), [
      ['t1', 'running', null, 'adopted the running container after an agent restart'],
      ['t3', 'failed', null, 'container lost'],
      ['t4', 'failed', 3, 'exited with code 3 while the agent was down'],
    ]);
    assert.deepEqual([...runtime.containers.keys()], ['t1']);
    assert.deepEqual(agent.status().tasks.map((t) => [t.taskId, t.phase]), [['t1', 'running'], ['t3', 'gone'], ['t4', 'gone']]);
  });

  test('the inventory may come before the first assignments; a created container is started, not recreated', () => {
    const runtime = new FakeRuntime();
    runtime.containers.set(id('t1'), { state: 'created', image: 'registry/app:1', exitCode: null });
    runtime.containers.set(id('t9'), { state: 'running', image: 'registry/app:1', exitCode: null });
    const agent = newAgent({ restarted: true, defaultStopGraceMs: 2_500 });
    agent.adopt(runtime.list(), 0);
    assert.deepEqual(agent.takeActions(), [], 'nothing is cleaned up before the assignments are known');
    agent.setAssignments([assignment('t1', { observedState: 'starting' })], ms);
    drive(agent, runtime, ms);
    assert.deepEqual(runtime.performed.map((a) => `${a.type}:${a.taskId}`), ['start:t1', 'stop:t9', 'remove:t9']);
    assert.deepEqual(runtime.performed.find((a) => a.type === 'stop'), { type: 'stop', taskId: 't9', graceMs: 2_500 });
    assert.deepEqual(states(agent), ['t1:running']);
  });

  test('adopt after the agent acted on assignments is refused as a bug', () => {
    const agent = newAgent();
    agent.setAssignments([assignment('t1')], 0);
    assert.throws(() => agent.adopt([], 0), InvariantError);
  });
});

describe('while disconnected', () => {
  test('a crashing task is restarted locally with growing backoff until maxAttempts within the window', () => {
    const agent = newAgent({ restartJitterFraction: 0.1 }); // random() = 0.5: every delay is stretched by 5%
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1', { restartPolicy: { condition: 'on-failure', delayMs: 100, maxAttempts: 3, windowMs: 60_000 } })], 0);
    drive(agent, runtime, 0);
    agent.setConnected(false, 0);
    let now = 10 * ms;
    const delaysUs: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      assert.ok(runtime.crash(id('t1'), 1));
      drive(agent, runtime, now);
      const restartAtUs = taskStatus(agent, 't1')!.restartAtUs!;
      delaysUs.push(restartAtUs - now);
      assert.equal(agent.tick(restartAtUs - 1), restartAtUs);
      assert.equal(runtime.countOf('create'), attempt, 'not before the backoff expires');
      agent.tick(restartAtUs);
      drive(agent, runtime, restartAtUs);
      assert.equal(runtime.countOf('create'), attempt + 1);
      assert.equal(taskStatus(agent, 't1')?.phase, 'running');
      now = restartAtUs + 10 * ms;
    }
    assert.deepEqual(delaysUs, [105 * ms, 210 * ms, 420 * ms]);
    runtime.crash(id('t1'), 1);
    drive(agent, runtime, now);
    assert.equal(taskStatus(agent, 't1')?.finished, true);
    assert.equal(agent.tick(now + 3_600_000 * ms), Infinity);
    drive(agent, runtime, now + 3_600_000 * ms);
    assert.equal(runtime.countOf('create'), 4);
    assert.deepEqual(agent.takeReports(), [], 'reports wait for the managers');
    agent.setConnected(true, now + 3_600_000 * ms);
    const reports = agent.takeReports();
    assert.equal(reports.length, 1, 'only the latest report per task is kept');
    assert.equal(reports[0].state, 'failed');
    assert.match(reports[0].message, /^exited with code 1; not restarted: the restart policy allows 3 attempts within 60000 ms$/);
  });

  test('attempts older than the window no longer count', () => {
    const agent = newAgent({ restartJitterFraction: 0 });
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1', { restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 1, windowMs: 1_000 } })], 0);
    drive(agent, runtime, 0);
    agent.setConnected(false, 0);
    runtime.crash(id('t1'), 0);
    drive(agent, runtime, ms);
    agent.tick(ms);
    drive(agent, runtime, ms);
    assert.equal(runtime.countOf('create'), 2);
    runtime.crash(id('t1'), 0);
    drive(agent, runtime, 1_002 * ms);
    agent.tick(1_002 * ms);
    drive(agent, runtime, 1_002 * ms);
    assert.equal(runtime.countOf('create'), 3);
  });

  test('the restart condition decides: none never restarts, on-failure not after a clean exit, any after both', () => {
    const cases = [
      { condition: 'none', exitCode: 1, restarted: false },
      { condition: 'on-failure', exitCode: 0, restarted: false },
      { condition: 'on-failure', exitCode: 1, restarted: true },
      { condition: 'any', exitCode: 0, restarted: true },
    ] as const;
    for (const c of cases) {
      const agent = newAgent();
      const runtime = new FakeRuntime();
      agent.setAssignments([assignment('t1', { restartPolicy: { condition: c.condition } })], 0);
      drive(agent, runtime, 0);
      agent.setConnected(false, 0);
      runtime.crash(id('t1'), c.exitCode);
      drive(agent, runtime, ms);
      agent.tick(10_000 * ms);
      drive(agent, runtime, 10_000 * ms);
      assert.equal(runtime.countOf('create'), c.restarted ? 2 : 1, `${c.condition} after exit ${c.exitCode}`);
    }
  });

  test('tasks keep running, and a failed pull is retried locally', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setConnected(false, 0);
    agent.setAssignments([assignment('t1', { image: 'registry/app:flaky' }), assignment('t2')], 0);
    drive(agent, runtime, 0);
    agent.tick(200 * ms);
    drive(agent, runtime, 200 * ms);
    assert.equal(runtime.countOf('pull', id('t1')), 2);
    assert.equal(taskStatus(agent, 't2')?.phase, 'running');
  });

  test('reconnecting drops a pending local restart; reports flush latest per task', () => {
    const agent = newAgent();
    const runtime = new FakeRuntime();
    agent.setAssignments([assignment('t1'), assignment('t2')], 0);
    drive(agent, runtime, 0);
    agent.takeReports();
    agent.setConnected(false, 0);
    runtime.crash(id('t1'), 9);
    drive(agent, runtime, ms);
    assert.notEqual(taskStatus(agent, 't1')?.restartAtUs, null);
    agent.setConnected(true, 2 * ms);
    assert.equal(taskStatus(agent, 't1')?.restartAtUs, null);
    assert.equal(agent.tick(10_000 * ms), Infinity);
    drive(agent, runtime, 10_000 * ms);
    assert.equal(runtime.countOf('create', id('t1')), 1);
    const reports = agent.takeReports();
    assert.deepEqual(reports.map((r) => [r.taskId, r.state, r.exitCode]), [['t1', 'failed', 9]]);
    assert.match(reports[0].message, /not restarted: reconnected to the managers/);
  });
});

describe('bounds', () => {
  test('pending reports are bounded: the latest per task is kept, the overflow dropped and counted', () => {
    const agent = newAgent({ maxReportsPending: 4 });
    const runtime = new FakeRuntime();
    agent.setAssignments(['a', 'b', 'c', 'd', 'e', 'f'].map((t) => assignment(t)), 0);
    drive(agent, runtime, 0);
    const status = agent.status();
    assert.equal(status.reportsPending, 4);
    assert.ok(status.reportsDropped > 0);
    const reports = agent.takeReports();
    assert.deepEqual(reports.map((r) => r.state), ['running', 'running', 'running', 'running']);
    assert.equal(new Set(reports.map((r) => r.taskId)).size, 4);
  });

  test('assignments beyond maxTasks are rejected', () => {
    const agent = newAgent({ maxTasks: 2 });
    agent.setAssignments([assignment('a'), assignment('b'), assignment('c')], 0);
    const reports = agent.takeReports();
    assert.deepEqual(reports.find((r) => r.taskId === 'c')?.state, 'rejected');
    assert.deepEqual(agent.status().tasks.map((t) => t.taskId), ['a', 'b']);
  });

  test('probes in flight are bounded over all tasks', () => {
    const agent = newAgent({ maxProbesInFlight: 2 });
    const runtime = new FakeRuntime();
    runtime.answerProbes = false;
    agent.setAssignments(['a', 'b', 'c', 'd'].map((t) => assignment(t, { healthCheck: httpCheck() })), 0);
    drive(agent, runtime, 0);
    agent.tick(5_000 * ms);
    drive(agent, runtime, 5_000 * ms);
    assert.equal(runtime.countOf('probe'), 2);
    assert.equal(agent.status().probesInFlight, 2);
    runtime.answerProbes = true;
    runtime.releaseProbes();
    drive(agent, runtime, 5_001 * ms);
    assert.equal(runtime.countOf('probe'), 4, 'answers free the budget for the tasks that waited');
  });

  test('an assignment for another node, or time going backwards, is a bug', () => {
    const agent = newAgent();
    const foreign = assignment('t1');
    const elsewhere = { ...foreign, task: { ...foreign.task, nodeId: 'worker-2' as NodeId } };
    assert.throws(() => agent.setAssignments([elsewhere], 0), InvariantError);
    agent.tick(10);
    assert.throws(() => agent.tick(9), InvariantError);
  });
});
