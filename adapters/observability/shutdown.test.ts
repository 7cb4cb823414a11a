// The shutdown coordinator, inside the test process (exit and signals injected): steps run in
// order, one at a time; a failed or timed-out step fails the exit code but not the later steps;
// the deadline skips what is left; a signal starts it, a second one forces the exit; the last act
// runs before exit; the standard steps skip the hand-over on a follower.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { ShutdownCoordinator, standardSteps, type ShutdownOptions, type ShutdownResult, type ShutdownStep } from './shutdown.ts';

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function harness(options: Partial<ShutdownOptions> = {}) {
  const events: string[] = [];
  const exits: number[] = [];
  const coordinator = new ShutdownCoordinator({
    stepTimeoutMs: 1000,
    exit: (code) => {
      events.push(`exit ${code}`);
      exits.push(code);
    },
    beforeExit: (result) => events.push(`before-exit ${result.exitCode}`),
    ...options,
  });
  const step = (name: string, run: ShutdownStep['run'] = () => {}, timeoutMs?: number): ShutdownStep => ({
    name,
    timeoutMs,
    run: async (signal) => {
      events.push(`start ${name}`);
      await run(signal);
      events.push(`end ${name}`);
    },
  });
  return { coordinator, events, exits, step };
}

const statuses = (result: ShutdownResult) => result.steps.map((step) => `${step.name}:${step.status}`);

test('steps run one at a time in registration order, then the last act, then exit 0', async () => {
  const { coordinator, events, step } = harness();
  coordinator.register(step('stop-accepting', () => delay(5))).register(step('transfer-leadership', () => delay(1))).register(step('close-storage'));
  const result = await coordinator.shutdown('test');
  assert.deepEqual(events, [
    'start stop-accepting', 'end stop-accepting', 'start transfer-leadership', 'end transfer-leadership',
    'start close-storage', 'end close-storage', 'before-exit 0', 'exit 0',
  ]);
  assert.equal(result.exitCode, 0);
  assert.deepEqual(statuses(result), ['stop-accepting:ok', 'transfer-leadership:ok', 'close-storage:ok']);
  assert.equal(await coordinator.shutdown('again'), result, 'one shutdown per process');
  assert.throws(() => coordinator.register(step('late')), /after the shutdown began/);
});

test('a failing step and a step past its timeout fail the exit code, and the later steps still run', async () => {
  const { coordinator, events, exits, step } = harness();
  let aborted: unknown = null;
  coordinator
    .register(step('fails', () => { throw new Error('no quorum to hand over to'); }))
    .register(step('hangs', (signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => { aborted = signal.reason; resolve(); })), 30))
    .register(step('close-storage'));
  const result = await coordinator.shutdown('test');
  assert.deepEqual(statuses(result), ['fails:failed', 'hangs:timed-out', 'close-storage:ok']);
  assert.equal(result.steps[0]!.error, 'no quorum to hand over to');
  assert.match(result.steps[1]!.error!, /timed out after 30 ms/);
  assert.ok(result.steps[1]!.durationMs >= 25 && result.steps[1]!.durationMs < 500);
  assert.match(String(aborted), /shutdown step hangs timed out/, 'the step was told to give up');
  assert.ok(events.includes('end close-storage'));
  assert.deepEqual(exits, [1]);
});

test('the overall deadline cuts the running step short and skips the rest', async () => {
  const { coordinator, exits, step } = harness({ deadlineMs: 40, stepTimeoutMs: 1000 });
  let ranLast = false;
  coordinator
    .register(step('quick'))
    .register(step('slow', () => delay(200)))
    .register(step('never', () => { ranLast = true; }));
  const start = performance.now();
  const result = await coordinator.shutdown('test');
  const tookMs = performance.now() - start;
  assert.deepEqual(statuses(result), ['quick:ok', 'slow:timed-out', 'never:skipped']);
  assert.equal(ranLast, false);
  assert.ok(tookMs < 150, `bounded by the deadline, took ${tookMs.toFixed(0)} ms`);
  assert.deepEqual(exits, [1]);
});

test('SIGTERM from the signal source starts the shutdown; a second signal exits at once with 1', async () => {
  const { coordinator, events, exits, step } = harness();
  const signals = new EventEmitter();
  let release = (): void => {};
  coordinator.register(step('stop-accepting', () => new Promise<void>((resolve) => (release = resolve))));
  const stop = coordinator.listen(signals);
  assert.equal(coordinator.started, false);
  signals.emit('SIGTERM');
  assert.equal(coordinator.started, true);
  await delay(1);
  signals.emit('SIGINT');
  assert.deepEqual(exits, [1], 'forced');
  release();
  const result = await coordinator.shutdown('ignored');
  assert.equal(result.reason, 'signal SIGTERM');
  assert.deepEqual(exits, [1], 'the finished shutdown does not exit a second time');
  assert.deepEqual(events.filter((event) => event.startsWith('exit')), ['exit 1']);
  stop();
  assert.equal(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT'), 0);
});

test('a shutdown for a fatal error exits 1 even when every step succeeds', async () => {
  const { coordinator, exits, step } = harness();
  coordinator.register(step('close-storage'));
  const result = await coordinator.shutdown('storage failed: EIO', { failed: true });
  assert.deepEqual(statuses(result), ['close-storage:ok']);
  assert.deepEqual(exits, [1]);
});

test('the standard steps: stop accepting, hand over leadership only when leader, close storage, flush logs', async () => {
  for (const leader of [true, false]) {
    const calls: string[] = [];
    const { coordinator, exits } = harness();
    for (const step of standardSteps({
      stopAccepting: () => void calls.push('stop-accepting'),
      isLeader: () => leader,
      transferLeadership: async () => { await delay(1); calls.push('transfer-leadership'); },
      closeStorage: () => void calls.push('close-storage'),
      flushLogs: () => void calls.push('flush-logs'),
    })) coordinator.register(step);
    const result = await coordinator.shutdown('SIGTERM');
    assert.deepEqual(calls, leader ? ['stop-accepting', 'transfer-leadership', 'close-storage', 'flush-logs'] : ['stop-accepting', 'close-storage', 'flush-logs']);
    assert.deepEqual(statuses(result), ['stop-accepting:ok', 'transfer-leadership:ok', 'close-storage:ok', 'flush-logs:ok']);
    assert.deepEqual(exits, [0]);
  }
});

test('bad bounds are refused', () => {
  assert.throws(() => new ShutdownCoordinator({ deadlineMs: 0 }), /deadlineMs must be a positive number/);
  assert.throws(() => new ShutdownCoordinator({ exit: () => {} }).register({ name: 'x', run: () => {}, timeoutMs: -1 }), /timeoutMs of step x/);
});
