import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { RuntimeAction, RuntimeEvent } from '../ports.ts';
import { terminalTaskStates, type TaskId, type TaskState } from '../state/types.ts';
import { Agent } from './agent.ts';
import { assignment, drive, FakeRuntime, httpCheck, testNode } from './fake-runtime.ts';
import type { Assignment } from './types.ts';
import { testRandom } from '../raft/harness.ts';

// Four tasks with different troubles: one that restarts on any exit, one that never passes its
// health check, one whose image pull keeps failing, one healthy but with few restart attempts.
const pool: readonly Assignment[] = [
  assignment('t0', { restartPolicy: { condition: 'any', delayMs: 50 } }),
  assignment('t1', { image: 'registry/app:unhealthy', healthCheck: httpCheck({ intervalMs: 500, retries: 2 }) }),
  assignment('t2', { image: 'registry/app:flaky' }),
  assignment('t3', { healthCheck: httpCheck({ intervalMs: 300, retries: 1, startPeriodMs: 200 }), restartPolicy: { maxAttempts: 2, windowMs: 2_000 } }),
];

type Command =
  | { readonly kind: 'deliver'; readonly index: number }
  | { readonly kind: 'crash'; readonly task: number; readonly exitCode: number; readonly oom: boolean }
  | { readonly kind: 'tick'; readonly elapsedMs: number }
  | { readonly kind: 'connected'; readonly connected: boolean }
  | { readonly kind: 'assign'; readonly present: readonly boolean[]; readonly shutdown: readonly boolean[] }
  | { readonly kind: 'restart-agent'; readonly adoptFirst: boolean }
  | { readonly kind: 'take-reports' };

const flags = fc.array(fc.boolean(), { minLength: pool.length, maxLength: pool.length });
const command: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('deliver' as const), index: fc.nat(20) }), weight: 8 },
  { arbitrary: fc.record({ kind: fc.constant('crash' as const), task: fc.nat(pool.length - 1), exitCode: fc.constantFrom(0, 1, 137), oom: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('tick' as const), elapsedMs: fc.nat(1_500) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('connected' as const), connected: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('assign' as const), present: flags, shutdown: flags }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('restart-agent' as const), adoptFirst: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('take-reports' as const) }), weight: 1 },
);

const everyTask: Command = { kind: 'assign', present: pool.map(() => true), shutdown: pool.map(() => false) };
const commands = (maxLength: number): fc.Arbitrary<Command[]> =>
  fc.array(command, { minLength: 10, maxLength, size: 'max' }).map((rest) => [everyTask, ...rest]);

/**
 * Which pending outcome to deliver next: any, except that a task's lifecycle outcomes keep their
 * order (a real runtime cannot report a crash before the start it follows); probe answers float.
 */
function pick(pending: readonly RuntimeEvent[], index: number): number {
  const chosen = index % pending.length;
  if (pending[chosen].type === 'probed') return chosen;
  const first = pending.findIndex((e) => e.taskId === pending[chosen].taskId && e.type !== 'probed');
  return first;
}

/**
 * Runs the commands against an agent and the fake runtime, checking after every action that the
 * agent never creates a task's container twice without a remove or an exit in between, and never
 * probes a task it has not seen running (nor one whose previous probe is unanswered). Returns the
 * trace of actions and reports, to compare runs.
 */
function run(script: readonly Command[], seed: number): string[] {
  const runtime = new FakeRuntime();
  const trace: string[] = [];
  let now = 0;
  let connected = true;
  const newAgent = (restarted: boolean): Agent => new Agent({ nodeId: testNode, random: testRandom(seed), restarted, connected, maxReportsPending: 8 });
  let agent = newAgent(false);
  // What the managers hold: the last state reported, and shutdown once asked (never revoked).
  const observed = new Map<TaskId, TaskState>();
  const shutdown = new Set<TaskId>();
  let snapshot: Assignment[] = [];
  // The checkers' view, per agent process (outcomes in flight are lost when it restarts).
  const createdSinceExit = new Set<TaskId>();
  let seenRunning = new Set<TaskId>();
  let probing = new Set<TaskId>();

  const perform = (action: RuntimeAction): void => {
    trace.push(`${now} ${action.type} ${action.taskId}`);
    const id = action.taskId;
    switch (action.type) {
      case 'create':
        assert.ok(!createdSinceExit.has(id), `second create of ${id} without a remove or exit in between`);
        createdSinceExit.add(id);
        seenRunning.delete(id);
        break;
      case 'remove':
        createdSinceExit.delete(id);
        seenRunning.delete(id);
        break;
      case 'stop':
        seenRunning.delete(id);
        break;
      case 'probe':
        assert.ok(seenRunning.has(id), `probe of ${id}, which the agent has not seen running`);
        assert.ok(!probing.has(id), `second probe of ${id} in flight`);
        probing.add(id);
        break;
      default:
        break;
    }
    runtime.perform(action);
    assert.deepEqual(runtime.violations, []);
  };
  const deliver = (event: RuntimeEvent): void => {
    trace.push(`${now} <- ${event.type} ${event.taskId}`);
    if (event.type === 'exited') createdSinceExit.delete(event.taskId);
    if (event.type === 'exited' || event.type === 'removed') seenRunning.delete(event.taskId);
    if (event.type === 'started' && event.ok) seenRunning.add(event.taskId);
    if (event.type === 'probed') probing.delete(event.taskId);
    agent.onRuntimeEvent(event, now);
  };
  const flush = (): void => {
    for (const action of agent.takeActions()) perform(action);
  };
  const reassign = (): void => {
    agent.setAssignments(snapshot.map((a) => ({
      ...a,
      task: { ...a.task, observedState: observed.get(a.task.id) ?? 'assigned', desiredState: shutdown.has(a.task.id) ? 'shutdown' : 'running' },
    })), now);
  };
  const takeReports = (): void => {
    for (const r of agent.takeReports()) {
      trace.push(`${now} report ${r.taskId} ${r.state}`);
      if (!terminalTaskStates.has(observed.get(r.taskId) ?? 'new')) observed.set(r.taskId, r.state);
    }
  };

  for (const c of script) {
    switch (c.kind) {
      case 'deliver':
        if (runtime.pending.length > 0) deliver(runtime.pending.splice(pick(runtime.pending, c.index), 1)[0]);
        break;
      case 'crash':
        runtime.crash(pool[c.task].task.id, c.exitCode, c.oom && c.exitCode === 137);
        break;
      case 'tick':
        now += c.elapsedMs * 1_000;
        agent.tick(now);
        break;
      case 'connected':
        connected = c.connected;
        agent.setConnected(connected, now);
        break;
      case 'assign':
        snapshot = pool.filter((_, i) => c.present[i]);
        pool.forEach((a, i) => { if (c.shutdown[i] && c.present[i]) shutdown.add(a.task.id); });
        reassign();
        break;
      case 'restart-agent':
        runtime.takeEvents();
        agent = newAgent(true);
        seenRunning = new Set(runtime.list().filter((s) => s.state === 'running').map((s) => s.taskId));
        probing = new Set();
        if (c.adoptFirst) agent.adopt(runtime.list(), now);
        reassign();
        if (!c.adoptFirst) agent.adopt(runtime.list(), now);
        break;
      case 'take-reports':
        takeReports();
        break;
    }
    flush();
  }
  // Quiesce: deliver everything at the current time. Then nothing may be stuck half way: every task
  // is running, waiting out a restart backoff, or holds no container at all.
  for (let round = 0; round < 100 && runtime.pending.length > 0; round++) {
    for (const event of runtime.takeEvents()) deliver(event);
    flush();
  }
  assert.equal(runtime.pending.length, 0, 'the agent and runtime quiesce');
  for (const t of agent.status().tasks) {
    const wanted = !t.finished && t.desiredState === 'running';
    if (wanted && t.restartAtUs === null) assert.equal(t.phase, 'running', `${t.taskId} is wanted and idle`);
    else assert.ok(t.phase === 'gone' || t.phase === 'new' || t.phase === 'pulled', `${t.taskId} is ${t.phase}, yet not wanted running`);
  }
  const runningHere = agent.status().tasks.filter((t) => t.phase === 'running').map((t) => t.taskId);
  assert.deepEqual(runtime.list().map((s) => `${s.taskId}:${s.state}`), runningHere.map((id) => `${id}:running`));
  takeReports();
  return trace;
}

test('for any event sequence the agent never creates twice without a remove or exit between, never probes a task that is not running, and quiesces', () => {
  fc.assert(
    fc.property(commands(200), fc.nat(), (script, seed) => {
      run(script, seed);
    }),
    { numRuns: 300 },
  );
});

test('the same inputs and seed give the same actions and reports', () => {
  fc.assert(
    fc.property(commands(100), fc.nat(), (script, seed) => {
      assert.deepEqual(run(script, seed), run(script, seed));
    }),
    { numRuns: 50 },
  );
});

test('a scripted drive reaches running for a healthy task and keeps the fake runtime consistent', () => {
  const agent = new Agent({ nodeId: testNode, random: testRandom(1) });
  const runtime = new FakeRuntime();
  agent.setAssignments([pool[0]], 0);
  drive(agent, runtime, 0);
  assert.deepEqual(runtime.list(), [{ taskId: 't0', state: 'running', exitCode: null }]);
});
