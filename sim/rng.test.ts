import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Rng } from './rng.ts';

function draws(rng: Rng, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(rng.float());
  return out;
}

test('the same seed yields the same sequence of draws of every kind', () => {
  const sequence = (rng: Rng) => [
    rng.float(), rng.int(1, 6), rng.chance(0.5), rng.range(10, 20), rng.pick(['a', 'b', 'c']),
    rng.shuffle([1, 2, 3, 4, 5]).join(','), rng.exponential(100),
  ];
  assert.deepEqual(sequence(new Rng('42')), sequence(new Rng('42')));
  assert.notDeepEqual(draws(new Rng('42'), 10), draws(new Rng('43'), 10));
});

test('a child stream does not depend on how many draws the parent made', () => {
  const fresh = new Rng('seed-7');
  const used = new Rng('seed-7');
  draws(used, 1000);
  assert.deepEqual(draws(fresh.child('network'), 20), draws(used.child('network'), 20));
  assert.equal(fresh.child('network').seed, 'seed-7/network');
});

test('making a child draws nothing from the parent', () => {
  const withChild = new Rng('s');
  withChild.child('disk').float();
  assert.deepEqual(draws(withChild, 20), draws(new Rng('s'), 20));
});

test('children with different names, and the parent, are different streams', () => {
  const parent = new Rng('s');
  const network = draws(parent.child('network'), 10);
  assert.notDeepEqual(network, draws(parent.child('disk'), 10));
  assert.notDeepEqual(network, draws(new Rng('s'), 10));
});

test('int stays within its inclusive bounds and reaches both ends', () => {
  fc.assert(
    fc.property(fc.string(), fc.integer({ min: -1e6, max: 1e6 }), fc.integer({ min: 0, max: 1e6 }), (seed, lo, span) => {
      const rng = new Rng(seed);
      for (let i = 0; i < 20; i++) {
        const value = rng.int(lo, lo + span);
        assert.ok(Number.isInteger(value) && value >= lo && value <= lo + span);
      }
    }),
  );
  const rng = new Rng('ends');
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) seen.add(rng.int(1, 3));
  assert.deepEqual([...seen].sort(), [1, 2, 3]);
  assert.throws(() => rng.int(3, 1), /lo <= hi/);
  assert.throws(() => rng.int(0.5, 1), /safe integers/);
});

test('int over a range wider than 2^32 still spreads over the whole range', () => {
  const rng = new Rng('wide');
  const hi = Number.MAX_SAFE_INTEGER;
  for (let i = 0; i < 100; i++) {
    const value = rng.int(0, hi);
    assert.ok(Number.isSafeInteger(value) && value >= 0 && value <= hi);
  }
});

test('chance(0) and chance(1) are certain and consume no draw', () => {
  const rng = new Rng('c');
  for (let i = 0; i < 100; i++) {
    assert.equal(rng.chance(0), false);
    assert.equal(rng.chance(1), true);
  }
  assert.deepEqual(draws(rng, 5), draws(new Rng('c'), 5));
});

test('chance(p) fires with frequency close to p', () => {
  const rng = new Rng('freq');
  let hits = 0;
  for (let i = 0; i < 20_000; i++) if (rng.chance(0.3)) hits++;
  assert.ok(Math.abs(hits / 20_000 - 0.3) < 0.02, `got ${hits / 20_000}`);
});

test('float and range stay in their half-open intervals', () => {
  const rng = new Rng('r');
  for (let i = 0; i < 1000; i++) {
    const f = rng.float();
    assert.ok(f >= 0 && f < 1);
    const r = rng.range(5, 7);
    assert.ok(r >= 5 && r < 7);
  }
});

test('shuffle permutes in place and pick returns a member', () => {
  fc.assert(
    fc.property(fc.string(), fc.array(fc.integer(), { minLength: 1, maxLength: 50 }), (seed, items) => {
      const rng = new Rng(seed);
      const copy = items.slice();
      const shuffled = rng.shuffle(copy);
      assert.equal(shuffled, copy);
      assert.deepEqual(shuffled.slice().sort((a, b) => a - b), items.slice().sort((a, b) => a - b));
      assert.ok(items.includes(rng.pick(items)));
    }),
  );
  assert.throws(() => new Rng('x').pick([]), /non-empty/);
});

test('exponential has the requested mean and is never negative', () => {
  const rng = new Rng('exp');
  let sum = 0;
  for (let i = 0; i < 50_000; i++) {
    const value = rng.exponential(200);
    assert.ok(value >= 0 && Number.isFinite(value));
    sum += value;
  }
  assert.ok(Math.abs(sum / 50_000 - 200) < 6, `mean ${sum / 50_000}`);
  assert.equal(rng.exponential(0), 0);
  assert.throws(() => rng.exponential(-1), /mean >= 0/);
});
