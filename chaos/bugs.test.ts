import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bugCatalog, plantBugs } from './bugs.ts';
import { defaultChaosOptions, runSeed } from './runner.ts';
import { shrink } from './shrink.ts';
import { workloadFaultClasses } from './types.ts';

// The checkers earn trust by catching each planted bug within a bounded number of seeds.
const seedBound = 500;

for (const bug of bugCatalog) {
  // Each bug in the first workload it applies to: the key-value one for the Raft core's bugs.
  const workload = bug.workloads[0]!;
  test(`planted bug ${bug.name} is caught within ${seedBound} seeds of --workload ${workload}`, () => {
    for (let seed = 1; seed <= seedBound; seed++) {
      const r = runSeed({ ...defaultChaosOptions, workload, faults: workloadFaultClasses[workload], seed, bugs: [bug.name] });
      if (r.violation) {
        assert.match(r.replay, new RegExp(`--seed ${seed} .*--inject-bug ${bug.name}`));
        return;
      }
    }
    assert.fail(`${bug.name} survived ${seedBound} seeds`);
  });
}

test('an unknown bug name is refused with the list of plantable bugs', () => {
  assert.throws(() => plantBugs(['no-such-bug']), /unknown bug 'no-such-bug'; plantable bugs: commit-old-term/);
});

test('shrinking keeps the failure and never grows the fault plan', () => {
  let options = { ...defaultChaosOptions, seed: 1, bugs: ['stale-read'] };
  let failing = runSeed(options);
  while (!failing.violation && options.seed < seedBound) {
    options = { ...options, seed: options.seed + 1 };
    failing = runSeed(options);
  }
  assert.ok(failing.violation, 'a seed with stale-read fails');
  const shrunk = shrink(options, failing);
  assert.equal(shrunk.result.violation?.checker, failing.violation!.checker);
  assert.ok(shrunk.options.mask, 'a mask was produced');
  const again = runSeed(shrunk.options);
  assert.equal(again.violation?.checker, failing.violation!.checker, 'the shrunk replay fails the same way');
  assert.match(shrunk.result.replay, /--shrink-mask/);
});
