// Smoke tests of the benchmarks with tiny parameters: each run(args, overrides) returns its fields,
// the sim benchmark's orchestration run is the chaos suites' world with its own settings, and the
// Raft benchmark's sanity check really catches a node that missed entries. No timings are
// asserted: they depend on the machine.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Harness } from '../core/raft/harness.ts';
import type { BenchmarkArgs } from './cli.ts';
import { assertAllApplied, measure, raftParameters, run as runRaft } from './raft.ts';
import { reconcileParameters, run as runReconcile } from './reconcile.ts';
import { run as runScheduler, schedulerParameters } from './scheduler.ts';
import { defaultOrchestrationParameters, orchestrationParameters, orchestrationWorld, runOrchestration } from './orchestration.ts';
import { percentile, run as runSim, simParameters } from './sim.ts';

/** A few seconds of a small orchestration world: the code path of the hour, not its cost. */
const tinyOrchestration = { workers: 3, services: 4, simSeconds: 5, livenessBoundSeconds: 60 };

function quietArgs(lines: string[] = []): BenchmarkArgs {
  return { json: true, progress: (line) => lines.push(line) };
}

describe('bench sim', () => {
  it('returns the throughput, seed-rate, orchestration and environment fields for a tiny run', async () => {
    const lines: string[] = [];
    const results = await runSim(quietArgs(lines), { durationSimSeconds: 2, throughputSeeds: 1, chaosSeeds: 3, warmUpSeeds: 1, orchestration: tinyOrchestration });
    for (const key of ['simSecondsPerWallSecond', 'eventsPerWallSecond', 'seedsPerMinute', 'wallSecondsPerSeedP50', 'wallSecondsPerSeedP99', 'heapUsedMb']) {
      assert.equal(typeof results[key], 'number', key);
      assert.ok((results[key] as number) > 0, key);
    }
    assert.equal(typeof results.violations, 'number');
    assert.ok(Array.isArray(results.failingSeeds));
    assert.equal((results.failingSeeds as unknown[]).length, results.violations);
    assert.equal(results.chaosSeeds, 3);
    assert.equal(results.node, process.version);
    assert.ok(lines.some((line) => line.includes('warm-up')), 'progress reports the warm-up');
    const orchestration = results.orchestration as Record<string, unknown>;
    assert.deepEqual(
      { managers: orchestration.managers, workers: orchestration.workers, services: orchestration.services, simSeconds: orchestration.simSeconds, failure: orchestration.failure },
      { managers: 3, workers: 3, services: 4, simSeconds: 5, failure: null },
    );
    for (const key of ['wallSeconds', 'simSecondsPerWallSecond', 'events', 'reconcilePasses', 'operatorGoals', 'targetWallSeconds']) {
      assert.equal(typeof orchestration[key], 'number', key);
      assert.ok((orchestration[key] as number) > 0, key);
    }
    assert.ok((orchestration.simSecondsWithConvergence as number) >= 5, 'the run goes on past the operator\'s hour, to convergence');
    assert.equal(orchestration.reconcileEveryMs, 500);
    assert.ok(lines.some((line) => line.startsWith('sim: orchestration')), 'progress reports the orchestration run');
  });

  it('runs the orchestration world the chaos suites run, with the settings it reports', async () => {
    const first = runOrchestration(tinyOrchestration, () => {});
    const again = runOrchestration(tinyOrchestration, () => {});
    assert.equal(first.failure, null);
    assert.equal(first.traceHash, again.traceHash, 'one seed, one run');
    const world = orchestrationWorld(orchestrationParameters(tinyOrchestration));
    world.run();
    assert.equal(world.hash.hex(), first.traceHash, 'the world orchestrationWorld builds is the one measured');
    assert.notEqual(runOrchestration({ ...tinyOrchestration, seed: 2 }, () => {}).traceHash, first.traceHash);
  });

  it('refuses bad parameters before running anything', () => {
    assert.throws(() => simParameters({ chaosSeeds: 0 }), /chaosSeeds must be an integer >= 1/);
    assert.throws(() => simParameters({ durationSimSeconds: 1.5 }), /durationSimSeconds/);
    assert.throws(() => simParameters({ firstSeed: 1, chaosSeeds: 10, warmUpFirstSeed: 9, warmUpSeeds: 3 }), /warm-up seeds 9..11 must lie outside/);
    assert.throws(() => simParameters({ firstSeed: 10, chaosSeeds: 10, warmUpFirstSeed: 8, warmUpSeeds: 3 }), /warm-up seeds 8..10 must lie outside/);
    assert.doesNotThrow(() => simParameters({ firstSeed: 10, chaosSeeds: 10, warmUpFirstSeed: 7, warmUpSeeds: 3 }));
    assert.throws(() => simParameters({ orchestration: { workers: 0 } }), /sim orchestration benchmark parameter workers must be an integer >= 1/);
    assert.throws(() => simParameters({ orchestration: { simSeconds: 0.5 } }), /simSeconds/);
    assert.deepEqual(simParameters({ orchestration: { workers: 7 } }).orchestration, { ...defaultOrchestrationParameters, workers: 7 });
  });

  it('takes nearest-rank percentiles', () => {
    const sample = Array.from({ length: 100 }, (_, i) => 100 - i);
    assert.equal(percentile(sample, 0.5), 50);
    assert.equal(percentile(sample, 0.99), 99);
    assert.equal(percentile([7], 0.99), 7);
  });
});

describe('bench raft', () => {
  it('returns batched and unbatched commit rates per cluster size for a tiny run', async () => {
    const results = await runRaft(quietArgs(), { entriesBatched: 300, entriesUnbatched: 50, entriesWarmUp: 20, batchSize: 100 });
    for (const key of ['commitsPerWallSecond', 'commitsPerWallSecondUnbatched']) {
      const bySize = results[key] as Record<string, number>;
      assert.deepEqual(Object.keys(bySize).sort(), ['3', '5'], key);
      for (const rate of Object.values(bySize)) assert.ok(rate > 0, key);
    }
    assert.equal(results.batchSize, 100);
  });

  it('measures a batch size that does not divide the entry count', () => {
    assert.ok(measure(3, 250, 100) > 0);
  });

  it('the sanity check throws when a node missed entries', () => {
    const harness = new Harness(['n1', 'n2', 'n3']);
    const leader = harness.electLeader();
    const lagging = harness.ids().find((id) => id !== leader.id)!;
    harness.isolate(lagging);
    for (let i = 0; i < 3; i++) assert.ok(leader.node.propose(`set k${i}=${i}`).ok);
    harness.stabilize();
    assert.throws(() => assertAllApplied(harness, 3), new RegExp(`node ${lagging} applied 0 of 3`));
  });

  it('refuses a batch larger than the core accepts uncommitted', () => {
    assert.throws(() => raftParameters({ batchSize: 5000 }), /batchSize must be at most 4096/);
  });
});

describe('bench scheduler', () => {
  it('returns the big-batch and many-services fields for a tiny run', async () => {
    const results = await runScheduler(quietArgs(), { nodes: 30, tasks: 200, services: 4, tasksPerService: 10, runs: 2, warmUpRuns: 1 });
    for (const key of ['placeMs', 'tasksPerSecond', 'manyServicesPlaceMs', 'manyServicesTasksPerSecond']) {
      assert.equal(typeof results[key], 'number', key);
      assert.ok((results[key] as number) > 0, key);
    }
    assert.equal(results.eligibleNodes, 20);
    const perZone = results.tasksPerZone as Record<string, number>;
    assert.equal(Object.values(perZone).reduce((sum, count) => sum + count, 0), 200);
  });

  it('refuses bad parameters before running anything', () => {
    assert.throws(() => schedulerParameters({ runs: 0 }), /runs must be an integer >= 1/);
    assert.throws(() => schedulerParameters({ nodes: 2.5 }), /nodes must be an integer/);
    assert.doesNotThrow(() => schedulerParameters({ warmUpRuns: 0, backgroundTasksPerNode: 0 }));
  });
});

describe('bench reconcile', () => {
  it('returns the idle and node-down fields for a tiny converged store', async () => {
    const results = await runReconcile(quietArgs(), {
      nodes: 12, services: 6, replicasPerService: 3, nodesDown: 3, runs: 2, warmUpRuns: 1, nodeDownRuns: 1, nodeDownWarmUpRuns: 1,
    });
    assert.equal(results.tasks, 18);
    const timings = ['idleMs', 'idleMinMs', 'idleMaxMs', 'afterNodeDownMs', 'afterNodeDownDetectMs', 'afterNodeDownRescheduleMs', 'afterNodeDownRescheduleApplyMs', 'afterNodeDownPlaceMs', 'afterNodeDownPlaceApplyMs'];
    for (const key of timings) {
      assert.equal(typeof results[key], 'number', key);
      assert.ok((results[key] as number) >= 0, key);
    }
    assert.ok((results.afterNodeDownMs as number) >= (results.afterNodeDownPlaceMs as number), 'the three passes together take at least the place pass');
    assert.equal(results.afterNodeDownDetectCommands, 3, 'the detect pass marks exactly the silent nodes down');
    const displaced = results.tasksDisplaced as number;
    assert.ok(displaced > 0);
    assert.equal(results.afterNodeDownTasksOrphaned, displaced);
    assert.equal(results.afterNodeDownTasksCreated, displaced);
    assert.equal(results.afterNodeDownTasksPlaced, displaced);
    assert.equal(results.afterNodeDownRescheduleCommands, displaced + 1, 'one orphaned report per task plus one task-create');
  });

  it('refuses bad parameters before running anything', () => {
    assert.throws(() => reconcileParameters({ runs: 0 }), /runs must be an integer >= 1/);
    assert.throws(() => reconcileParameters({ nodes: 10, nodesDown: 10 }), /nodesDown must be below nodes/);
    assert.throws(() => reconcileParameters({ replicasPerService: 10_001 }), /replicasPerService must be at most 10000/);
    assert.doesNotThrow(() => reconcileParameters({ warmUpRuns: 0, nodeDownWarmUpRuns: 0 }));
  });
});
