// The orchestration workload through the chaos runner: the results the CLI reports (fault classes,
// convergence, operations), determinism, a planted bug caught and shrunk to a replayable plan.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMask } from './mask.ts';
import { defaultChaosOptions, runSeed } from './runner.ts';
import { shrink } from './shrink.ts';
import { allFaultClasses, type ChaosOptions } from './types.ts';

const opts = (over: Partial<ChaosOptions> = {}): ChaosOptions => ({ ...defaultChaosOptions, workload: 'orchestration', faults: allFaultClasses, ...over });

test('an orchestration seed reports every fault class, its convergence and its operations, and replays exactly', () => {
  const a = runSeed(opts({ seed: 5 }));
  assert.equal(a.violation, null, `${a.violation?.message} (${a.replay})`);
  assert.deepEqual(Object.keys(a.faultsFired), [...allFaultClasses]);
  for (const c of ['network', 'load'] as const) assert.ok((a.faultsFired[c] ?? 0) > 0, `${c} fired in seed 5`);
  assert.ok(a.convergedAfterHealUs !== null && a.convergedAfterHealUs > 0 && a.convergedAfterHealUs <= 60_000_000);
  assert.ok(a.operations.some((op) => op.actor === 'operator') && a.operations.some((op) => op.actor === 'load'));
  const times = a.operations.map((op) => op.time as number);
  assert.deepEqual(times, [...times].sort((x, y) => x - y), 'operations are in time order');
  const d = a.faultDetail;
  assert.equal(['ok', 'shed', 'refused', 'unknown', 'pending'].reduce((n, k) => n + (d[`load.${k}`] ?? 0), 0), d['load.sent'], 'every load request is counted once by its outcome');
  assert.equal(a.replay, 'warren chaos replay --seed 5 --workload orchestration --faults all');
  const b = runSeed(opts({ seed: 5 }));
  assert.equal(b.traceHash, a.traceHash);
  assert.equal(b.convergedAfterHealUs, a.convergedAfterHealUs);
  assert.notEqual(runSeed(opts({ seed: 6 })).traceHash, a.traceHash);
});

test('with faults off nothing fires and the cluster converges', () => {
  const r = runSeed(opts({ seed: 2, faults: [] }));
  assert.equal(r.violation, null, r.violation?.message);
  assert.deepEqual(r.faultsFired, { network: 0, disk: 0, process: 0, clock: 0, runtime: 0, load: 0 });
  assert.equal(r.operations.filter((op) => op.actor === 'load').length, 0);
});

test('a planted double-slot bug is caught, and the shrunk plan still fails the same way when replayed', () => {
  const options = opts({ seed: 1, bugs: ['double-slot'] });
  const failing = runSeed(options);
  assert.equal(failing.violation?.checker, 'convergence', failing.violation?.message);
  assert.match(failing.violation!.message, /slot \d+ has 2 running tasks/);
  assert.equal(failing.convergedAfterHealUs, null);
  const shrunk = shrink(options, failing);
  assert.equal(shrunk.result.violation?.checker, 'convergence');
  const mask = shrunk.options.mask!;
  assert.ok(mask.events.length < 5, `the plan shrank to ${mask.events.length} events`);
  const spec = /--shrink-mask '([^']+)'/.exec(shrunk.result.replay)![1]!;
  const replayed = runSeed({ ...options, mask: parseMask(spec) });
  assert.equal(replayed.traceHash, shrunk.result.traceHash, 'the printed replay command reproduces the shrunk run');
});
