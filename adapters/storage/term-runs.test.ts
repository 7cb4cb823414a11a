// TermRuns against a plain array of terms as the model.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TermRuns } from './term-runs.ts';
import { makeEntries } from './testing.ts';

test('term runs answer termAt like a full log does, through appends, truncations, snapshots and compaction', () => {
  const op = fc.record({ kind: fc.constantFrom('append', 'append', 'append', 'reset', 'compact'), a: fc.nat(50), b: fc.nat(6), term: fc.integer({ min: 1, max: 9 }) });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const runs = new TermRuns();
      runs.reset(0, 0);
      let base = 0; // index of the snapshot; log[i] is the term at base + i
      let log: number[] = [0];
      let floor = 0; // compaction floor: terms below it are forgotten
      for (const { kind, a, b, term } of ops) {
        const last = base + log.length - 1;
        if (kind === 'append') {
          const first = floor + 1 + (a % (last - floor + 1));
          runs.append(makeEntries(first, first + b, term));
          log = log.slice(0, first - base);
          for (let i = 0; i <= b; i++) log.push(term);
        } else if (kind === 'reset') {
          const index = last + a;
          runs.reset(index, term);
          base = floor = index;
          log = [term];
        } else {
          floor = Math.max(floor, base + (a % log.length));
          runs.compact(floor);
        }
        for (let index = 0; index <= base + log.length + 1; index++) {
          const expected = index >= floor && index < base + log.length ? log[index - base] : undefined;
          if (expected !== undefined) assert.equal(runs.termAt(index), expected, `term at ${index}`);
          else if (index >= base + log.length || index < base) assert.equal(runs.termAt(index), undefined, `term at ${index}`);
        }
      }
    }),
  );
});
