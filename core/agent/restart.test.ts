import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { RestartPolicy } from '../state/types.ts';
import { attemptsInWindow, attemptsLeft, restartDelayUs, restartWanted } from './restart.ts';

const policy = (p: Partial<RestartPolicy> = {}): RestartPolicy => ({ condition: 'on-failure', delayMs: 100, maxAttempts: 3, windowMs: 1_000, ...p });

test('the restart delay doubles from the policy delay up to the cap', () => {
  const delaysMs = [1, 2, 3, 4, 5, 6].map((n) => restartDelayUs(policy(), n, 1_000, 0, () => 0) / 1_000);
  assert.deepEqual(delaysMs, [100, 200, 400, 800, 1_000, 1_000]);
});

test('a policy delay above the cap is kept, and a zero delay restarts at once', () => {
  assert.equal(restartDelayUs(policy({ delayMs: 5_000 }), 3, 1_000, 0, () => 0), 5_000_000);
  assert.equal(restartDelayUs(policy({ delayMs: 0 }), 7, 1_000, 0.5, () => 0.9), 0);
});

test('jitter only stretches the delay, by at most its fraction', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (n, draw) => {
    const nominal = restartDelayUs(policy(), n, 60_000, 0, () => 0);
    const jittered = restartDelayUs(policy(), n, 60_000, 0.2, () => draw);
    assert.ok(jittered >= nominal && jittered <= nominal * 1.2, `${jittered} outside [${nominal}, ${nominal * 1.2}]`);
  }));
});

test('the restart condition: none never, on-failure only after a failure, any always', () => {
  assert.deepEqual(
    (['none', 'on-failure', 'any'] as const).map((condition) => [restartWanted(policy({ condition }), 'failed'), restartWanted(policy({ condition }), 'complete')]),
    [[false, false], [true, false], [true, true]],
  );
});

test('attempts are counted within the window, and maxAttempts 0 means unlimited', () => {
  const times = [0, 500_000, 900_000];
  assert.deepEqual(attemptsInWindow(policy(), times, 1_200_000), [500_000, 900_000]);
  assert.deepEqual(attemptsInWindow(policy({ windowMs: 0 }), times, 1_000_000_000), times);
  assert.equal(attemptsLeft(policy(), 2), true);
  assert.equal(attemptsLeft(policy(), 3), false);
  assert.equal(attemptsLeft(policy({ maxAttempts: 0 }), 1_000_000), true);
});
