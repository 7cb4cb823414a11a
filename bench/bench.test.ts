// Smoke tests of the benchmarks with tiny parameters: each run(args, overrides) returns its fields,
// and the Raft benchmark's sanity check really catches a node that missed entries. No timings are
// asserted: they depend on the machine.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Harness } from '../core/raft/harness.ts';
import type { BenchmarkArgs } from './cli.ts';
import { assertAllApplied, measure, raftParameters, run as runRaft } from './raft.ts';
import { reconcileParameters, run as runReconcile } from './reconcile.ts';
import { run as runScheduler, schedulerParameters } from './scheduler.ts';
import { percentile, run as runSim, simParameters } from './sim.ts';

function quietArgs(lines: string[] = []): BenchmarkArgs {
  return { json: true, progress: (line) => lines.push(line) };
}

describe('bench sim', () => {
  it('returns the throughput, seed-rate and environment fields for a tiny run', async () => {
    const lines: string[] = [];
    const results = await runSim(quietArgs(lines), { durationSimSeconds: 2, throughputSeeds: 1, chaosSeeds: 3, warmUpSeeds: 1 });
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
  });

  it('refuses bad parameters before running anything', () => {
    assert.throws(() => simParameters({ chaosSeeds: 0 }), /chaosSeeds must be an integer >= 1/);
    assert.throws(() => simParameters({ durationSimSeconds: 1.5 }), /durationSimSeconds/);
    assert.throws(() => simParameters({ firstSeed: 1, chaosSeeds: 10, warmUpFirstSeed: 9, warmUpSeeds: 3 }), /warm-up seeds 9..11 must lie outside/);
    assert.throws(() => simParameters({ firstSeed: 10, chaosSeeds: 10, warmUpFirstSeed: 8, warmUpSeeds: 3 }), /warm-up seeds 8..10 must lie outside/);
    assert.doesNotThrow(() => simParameters({ firstSeed: 10, chaosSeeds: 10, warmUpFirstSeed: 7, warmUpSeeds: 3 }));
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
    for (const key of ['idleMs', 'idleMinMs', 'idleMaxMs', 'nodeDownDetectMs', 'nodeDownMs', 'storeApplyMs', 'nodeDownPlaceMs']) {
      assert.equal(typeof results[key], 'number', key);
      assert.ok((results[key] as number) >= 0, key);
    }
    assert.equal(results.nodeDownDetectCommands, 3, 'the detect pass marks exactly the silent nodes down');
    const displaced = results.tasksDisplaced as number;
    assert.ok(displaced > 0);
    assert.equal(results.nodeDownTasksOrphaned, displaced);
    assert.equal(results.nodeDownTasksCreated, displaced);
    assert.equal(results.nodeDownTasksPlaced, displaced);
    assert.equal(results.nodeDownCommands, displaced + 1, 'one orphaned report per task plus one task-create');
  });

  it('refuses bad parameters before running anything', () => {
    assert.throws(() => reconcileParameters({ runs: 0 }), /runs must be an integer >= 1/);
    assert.throws(() => reconcileParameters({ nodes: 10, nodesDown: 10 }), /nodesDown must be below nodes/);
    assert.throws(() => reconcileParameters({ replicasPerService: 10_001 }), /replicasPerService must be at most 10000/);
    assert.doesNotThrow(() => reconcileParameters({ warmUpRuns: 0, nodeDownWarmUpRuns: 0 }));
  });
});
