// End to end on one worker: the real agent (core/agent) drives the process runtime through a
// minimal shell loop (actions out, events in, a tick every 20 ms), across a restart of the daemon.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { Agent, type Assignment, type TaskReport } from '../../../core/agent/index.ts';
import type { RuntimeAction } from '../../../core/ports.ts';
import type { DesiredTaskState, HealthCheck, NodeId, ServiceId, TaskState } from '../../../core/state/types.ts';
import { findGroupLeadersWithArgument } from './proc.ts';
import { taskPaths } from './records.ts';
import type { ProcessRuntime } from './runtime.ts';
import { EventRecorder, pidRuns, Sandbox, shSpec, tid, until } from './testing.ts';

const nodeId = 'worker-1' as NodeId;
const nowUs = (): number => Math.floor(performance.now() * 1_000);

function assignment(taskId: string, script: string, healthCheck: HealthCheck, desiredState: DesiredTaskState, observedState: TaskState): Assignment {
  return {
    task: {
      id: tid(taskId), version: 1, serviceId: 'web' as ServiceId, slot: 1, nodeId, specVersion: 1, desiredState,
      shutdownCause: null, shutdownAtUs: null, observedState, message: '', exitCode: null, restartCount: 0, createdAtUs: 0, updatedAtUs: 0,
    },
    container: shSpec(script, { stopGracePeriodMs: 2_000 }),
    healthCheck,
    restartPolicy: { condition: 'none', delayMs: 0, maxAttempts: 0, windowMs: 0 },
  };
}

/** One daemon: agent + process runtime + the loop between them. */
class Worker {
  readonly agent: Agent;
  readonly runtime: ProcessRuntime;
  readonly events = new EventRecorder();
  readonly actions: RuntimeAction[] = [];
  readonly reports: TaskReport[] = [];
  private readonly ticker: NodeJS.Timeout;

  constructor(sandbox: Sandbox, restarted: boolean) {
    this.agent = new Agent({ nodeId, random: () => 0.5, restarted });
    this.runtime = sandbox.open((event) => {
      this.events.sink(event);
      this.agent.onRuntimeEvent(event, nowUs());
      this.pump();
    });
    this.ticker = setInterval(() => {
      this.agent.tick(nowUs());
      this.pump();
    }, 20);
  }

  pump(): void {
    for (const action of this.agent.takeActions()) {
      this.actions.push(action);
      void this.runtime.act(action);
    }
    this.reports.push(...this.agent.takeReports());
  }

  count(type: RuntimeAction['type']): number {
    return this.actions.filter((a) => a.type === type).length;
  }

  close(): void {
    clearInterval(this.ticker);
    this.runtime.close();
  }
}

let sandbox: Sandbox;
const workers: Worker[] = [];

function startWorker(restarted: boolean): Worker {
  const worker = new Worker(sandbox, restarted);
  workers.push(worker);
  return worker;
}

beforeEach(() => {
  sandbox = new Sandbox();
});
afterEach(() => {
  for (const worker of workers.splice(0)) worker.close();
  sandbox.cleanup();
});

const ready: HealthCheck = { type: 'exec', command: ['test', '-f', 'ready'], intervalMs: 100, timeoutMs: 100, retries: 2, startPeriodMs: 0 };
const script = 'touch ready; while :; do sleep 0.05; done';
const healthyProbes = (w: Worker): number => w.events.events.filter((e) => e.type === 'probed' && e.healthy).length;

test('the agent runs a task through start, health probes, a daemon restart (adopted, not restarted) and shutdown', async () => {
  const first = startWorker(false);
  first.agent.setAssignments([assignment('t1', script, ready, 'running', 'assigned')], nowUs());
  first.pump();
  await until(() => first.reports.some((r) => r.state === 'running'), 'the task to run');
  assert.deepEqual(first.reports.map((r) => r.state), ['assigned', 'starting', 'running']);
  await until(() => healthyProbes(first) >= 2, 'two healthy probes');
  const group = first.runtime.processGroupOf(tid('t1'))!;

  first.close();
  const second = startWorker(true);
  second.agent.setAssignments([assignment('t1', script, ready, 'running', 'running')], nowUs());
  second.agent.adopt(second.runtime.list(), nowUs());
  second.pump();
  assert.deepEqual(second.reports.map((r) => [r.state, r.message]), [['running', 'adopted the running container after an agent restart']]);
  await until(() => healthyProbes(second) >= 1, 'probes of the adopted process');
  assert.equal(second.count('create') + second.count('start'), 0, 'the adopted task is not started again');
  assert.deepEqual(findGroupLeadersWithArgument(taskPaths(sandbox.stateDir, 't1').exitStatus), [group]);

  second.agent.setAssignments([assignment('t1', script, ready, 'shutdown', 'running')], nowUs());
  second.pump();
  await until(() => second.reports.some((r) => r.state === 'shutdown'), 'the task to shut down');
  assert.deepEqual(second.actions.filter((a) => a.type !== 'probe').map((a) => a.type), ['stop', 'remove']);
  assert.equal(pidRuns(group), false);
  assert.deepEqual(second.runtime.list(), []);
  assert.deepEqual([first.count('create'), first.count('start')], [1, 1]);
});

test('a task whose real health probe keeps failing is reported failed by the agent, then stopped and removed', async () => {
  const absent: HealthCheck = { ...ready, command: ['test', '-f', 'absent'] };
  const worker = startWorker(false);
  worker.agent.setAssignments([assignment('t1', script, absent, 'running', 'assigned')], nowUs());
  worker.pump();
  await until(() => worker.events.of(tid('t1'), 'removed').length === 1, 'the failed task to be removed');
  const failed = worker.reports.find((r) => r.state === 'failed');
  assert.equal(failed?.message, 'health check failed 2 times: exit code 1');
  assert.deepEqual(worker.runtime.list(), []);
});
