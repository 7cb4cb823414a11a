// The simulation suite: many seeds per fault class, bounded in time, every one clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultChaosOptions, runSeed } from './runner.ts';
import { faultClasses, type FaultClass } from './types.ts';

const suites: [string, readonly FaultClass[], number][] = [
  ...faultClasses.map((c): [string, readonly FaultClass[], number] => [c, [c], 40]),
  ['all faults', faultClasses, 150],
  ['all faults, 3 nodes', faultClasses, 40],
];

for (const [name, faults, seeds] of suites) {
  test(`${seeds} seeds with ${name}: no violation, every history linearizable`, () => {
    const nodes = name.endsWith('3 nodes') ? 3 : 5;
    const from = name.endsWith('3 nodes') ? 5000 : 1000;
    for (let seed = from; seed < from + seeds; seed++) {
      const r = runSeed({ ...defaultChaosOptions, seed, nodes, faults });
      assert.equal(r.violation, null, `seed ${seed}: ${r.violation?.checker}: ${r.violation?.message}\nreplay: ${r.replay}`);
      assert.equal(r.linearizability, 'ok', `seed ${seed}: linearizability ${r.linearizability}\nreplay: ${r.replay}`);
    }
  });
}
