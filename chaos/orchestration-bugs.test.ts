// The orchestration checkers have teeth: each plantable bug of the control plane (OrchestrationBugs
// in core/reconciler/config.ts) is caught, with every fault class on, within a few seeds, by the
// check meant for it, with a message that names what went wrong; and the seed that catches it runs
// clean without the bug, so it is the bug that was caught, not a flaky run.
// Each search stops at the first failing seed, within maxSeeds (each is caught within 500 seeds:
// see the report of the change that planted it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noOrchestrationBugs, type OrchestrationBugs } from '../core/reconciler/index.ts';
import { orchestrationFaultClasses } from '../sim/orchestration/faults.ts';
import { defaultWorldOptions, OrchestrationLivenessError, OrchestrationSafetyError, OrchestrationWorld } from '../sim/orchestration/world.ts';
import { drainedAssignmentChecker, newOrchestrationChecks, updateFailureActionChecker } from './checkers/orchestration.ts';
import { RaftSafetyChecker } from './checkers/raft-safety.ts';

const maxSeeds = 60;

type Outcome = { readonly seed: string; readonly error: Error | null; readonly world: OrchestrationWorld };

function runWorld(seed: string, bugs: OrchestrationBugs): Outcome {
  const world = new OrchestrationWorld({
    ...defaultWorldOptions, seed, faults: orchestrationFaultClasses, observer: new RaftSafetyChecker(), checks: newOrchestrationChecks(), bugs,
  });
  try {
    world.run();
    return { seed, error: null, world };
  } catch (e) {
    return { seed, error: e instanceof Error ? e : new Error(String(e)), world };
  }
}

/** The first seed from 1 up that fails with `bug` planted, checked to run clean without it. */
function firstCatch(bug: keyof OrchestrationBugs): Outcome & { readonly error: Error } {
  for (let n = 1; n <= maxSeeds; n++) {
    const outcome = runWorld(String(n), { ...noOrchestrationBugs, [bug]: true });
    if (outcome.error === null) continue;
    const clean = runWorld(outcome.seed, noOrchestrationBugs);
    assert.equal(clean.error, null, `seed ${outcome.seed} fails without ${bug} too: ${clean.error?.message}`);
    return { ...outcome, error: outcome.error };
  }
  assert.fail(`${bug} was not caught in seeds 1..${maxSeeds}`);
}

const replay = (seed: string, bug: keyof OrchestrationBugs) =>
  `replay: new OrchestrationWorld({ ...defaultWorldOptions, seed: '${seed}', faults: orchestrationFaultClasses, bugs: { ...noOrchestrationBugs, ${bug}: true }, ` +
  'observer: new RaftSafetyChecker(), checks: newOrchestrationChecks() }).run()';

test('schedule-on-drained is caught as an assignment that took effect on a drained node', (t) => {
  const { seed, error } = firstCatch('scheduleOnDrained');
  assert.ok(error instanceof OrchestrationSafetyError, `${error.name}: ${error.message} (${replay(seed, 'scheduleOnDrained')})`);
  assert.equal(error.checker, drainedAssignmentChecker);
  assert.match(error.message, /task t-\w+ \(service \S+ \(s\d[\w-]*\), (slot \d+|global)\) was assigned to node w\d+, which is drained and takes no new tasks/);
  t.diagnostic(`seed ${seed}: ${error.message}`);
});

test('ignore-max-failure-ratio is caught as a reconcile pass that carries on with an update whose failures exceed its ratio', (t) => {
  const { seed, error } = firstCatch('ignoreMaxFailureRatio');
  assert.ok(error instanceof OrchestrationSafetyError, `${error.name}: ${error.message} (${replay(seed, 'ignoreMaxFailureRatio')})`);
  assert.equal(error.checker, updateFailureActionChecker);
  assert.match(error.message, /\d+ of \d+ tasks of its (update|rollback) to spec version \d+ failed \(t-\w+ in slot \d+ (failed|rejected).*\), above its max failure ratio [\d.]+, yet a reconcile pass on that store did not (roll it back|pause it)/);
  t.diagnostic(`seed ${seed}: ${error.message}`);
});

test('forget-task-on-failover is caught after the heal: a task the new leader never knew still runs beside its slot\'s replacement', (t) => {
  const { seed, error, world } = firstCatch('forgetTaskOnFailover');
  assert.ok(error instanceof OrchestrationLivenessError, `${error.name}: ${error.message} (${replay(seed, 'forgetTaskOnFailover')})`);
  assert.match(error.message, /slot \d+ has 2 running tasks|a task runs in slot \d+, outside 1\.\.\d+|2 running tasks on eligible node w\d+, want 1/);
  // The cache only misses tasks across a change of leader: the run had one.
  assert.ok(Math.max(...world.managers.map((m) => m.node.term())) > 1, `seed ${seed} never changed leader`);
  t.diagnostic(`seed ${seed}: ${error.message.slice(0, 300)}`);
});

test('no-rebalance is caught after the heal: a replicated service left uneven over its eligible nodes', (t) => {
  const { seed, error } = firstCatch('noRebalance');
  assert.ok(error instanceof OrchestrationLivenessError, `${error.name}: ${error.message} (${replay(seed, 'noRebalance')})`);
  assert.match(error.message, /service \S+ \(s\d[\w-]*\): uneven over its eligible nodes: \d+ running tasks on w\d+, \d+ on w\d+, which has room for more/);
  t.diagnostic(`seed ${seed}: ${error.message.slice(0, 300)}`);
});

test('double-slot is caught after the heal: a slot with two running tasks', (t) => {
  const { seed, error } = firstCatch('doubleSlot');
  assert.ok(error instanceof OrchestrationLivenessError, `${error.name}: ${error.message} (${replay(seed, 'doubleSlot')})`);
  assert.match(error.message, /slot \d+ has 2 running tasks|2 running tasks on eligible node w\d+, want 1/);
  t.diagnostic(`seed ${seed}: ${error.message.slice(0, 300)}`);
});
