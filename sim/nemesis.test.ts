import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { calmDisk, calmNetwork, drawPlan, faultEventClass, maskPlan, rateNames, type FaultClassName, type FaultPlan } from './nemesis.ts';
import { Rng } from './rng.ts';

const allFaults: readonly FaultClassName[] = ['network', 'disk', 'process', 'clock'];
const durationUs = 20_000_000;

function plan(seed: string, nodes = 5, faults: readonly FaultClassName[] = allFaults): FaultPlan {
  return drawPlan(new Rng(seed).child('nemesis'), nodes, faults, durationUs);
}

const seeds = fc.stringMatching(/^[a-z0-9]{1,8}$/);
const property = { numRuns: 60, seed: 424242 } as const;

test('drawPlan is deterministic per seed', () => {
  fc.assert(fc.property(seeds, fc.integer({ min: 1, max: 7 }), (seed, nodes) => {
    assert.deepEqual(plan(seed, nodes), plan(seed, nodes));
  }), property);
  assert.notDeepEqual(plan('1'), plan('2'), 'different seeds draw different plans');
});

test('with every fault class off the plan is calm and has no events', () => {
  fc.assert(fc.property(seeds, fc.integer({ min: 1, max: 7 }), (seed, nodes) => {
    const p = plan(seed, nodes, []);
    assert.deepEqual(p.network, calmNetwork);
    assert.deepEqual(p.disk, calmDisk);
    assert.deepEqual(p.drift, new Array(nodes).fill(1));
    assert.equal(p.crashAfterSyncRate, 0);
    assert.deepEqual(p.events, []);
  }), property);
});

test('every restart or resume event points at an earlier crash or pause event', () => {
  let paired = 0;
  fc.assert(fc.property(seeds, fc.integer({ min: 1, max: 7 }), (seed, nodes) => {
    const events = plan(seed, nodes).events;
    events.forEach((e, i) => {
      if (i > 0) assert.ok(events[i - 1]!.atUs <= e.atUs, 'events are in time order');
      if (e.kind !== 'restart' && e.kind !== 'resume') return;
      paired++;
      assert.ok(e.of < i, `event ${i} (${e.kind}) points at ${e.of}, not an earlier event`);
      const cause = events[e.of]!;
      assert.equal(cause.kind, e.kind === 'restart' ? 'crash' : 'pause');
      assert.ok(cause.atUs <= e.atUs);
    });
    // Each crash or pause is undone by exactly one later event.
    const undoers = events.flatMap((e) => (e.kind === 'restart' || e.kind === 'resume' ? [e.of] : []));
    assert.equal(new Set(undoers).size, undoers.length);
    assert.equal(undoers.length, events.filter((e) => e.kind === 'crash' || e.kind === 'pause').length);
  }), property);
  assert.ok(paired > 0, 'the property saw restart/resume events');
});

test('maskPlan with every event and rate gives back the plan unchanged', () => {
  fc.assert(fc.property(seeds, fc.integer({ min: 1, max: 7 }), (seed, nodes) => {
    const p = plan(seed, nodes);
    assert.deepEqual(maskPlan(p, p.events.map((_, i) => i), rateNames), p);
  }), property);
});

test('maskPlan with no events and no rates keeps only none events and zero rates', () => {
  fc.assert(fc.property(seeds, fc.integer({ min: 1, max: 7 }), (seed, nodes) => {
    const p = plan(seed, nodes);
    const masked = maskPlan(p, [], []);
    assert.equal(masked.events.length, p.events.length, 'event numbers keep their meaning');
    masked.events.forEach((e, i) => assert.deepEqual(e, { kind: 'none', atUs: p.events[i]!.atUs }));
    const { dropRate, duplicateRate, reorderRate } = masked.network;
    const { slowSyncRate, tornWriteRate, bitFlipRate, fullRate } = masked.disk;
    assert.deepEqual([dropRate, duplicateRate, reorderRate, slowSyncRate, tornWriteRate, bitFlipRate, fullRate, masked.crashAfterSyncRate], [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(masked.drift, new Array(nodes).fill(1));
    assert.deepEqual(masked.tuning, p.tuning, 'tuning is not a fault: the mask keeps it');
  }), property);
});

test('a single-node plan has no partition or other link events', () => {
  let events = 0;
  fc.assert(fc.property(seeds, (seed) => {
    const p = plan(seed, 1);
    events += p.events.length;
    for (const e of p.events) {
      assert.ok(e.kind !== 'none');
      assert.notEqual(faultEventClass[e.kind], 'network', `single-node plan drew a ${e.kind} event`);
    }
    assert.equal(p.maxDown, 1);
  }), property);
  assert.ok(events > 0, 'single-node plans still draw process and clock events');
});
