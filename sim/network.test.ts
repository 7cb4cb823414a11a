import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, type NetworkConfig } from './network.ts';
import { Rng } from './rng.ts';

const QUIET: NetworkConfig = {
  latencyMinUs: 100,
  latencyMeanUs: 50,
  dropRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
  reorderMaxUs: 0,
};

function fates(network: Network, count: number): number[][] {
  const result: number[][] = [];
  for (let i = 0; i < count; i++) {
    const out: number[] = [];
    network.route('n1', 'n2', i * 10, out);
    result.push(out);
  }
  return result;
}

test('the same seed decides the same fate for every message', () => {
  const config = { ...QUIET, dropRate: 0.2, duplicateRate: 0.2, reorderRate: 0.2, reorderMaxUs: 10_000 };
  const a = fates(new Network(new Rng('9'), config), 500);
  const b = fates(new Network(new Rng('9'), config), 500);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, fates(new Network(new Rng('10'), config), 500));
});

test('without faults every message is delivered once, at least latencyMinUs later, in whole microseconds', () => {
  const network = new Network(new Rng('q'), QUIET);
  const out: number[] = [];
  for (let i = 0; i < 1000; i++) {
    out.length = 0;
    assert.equal(network.route('n1', 'n2', 5_000, out), 1);
    assert.equal(out.length, 1);
    const atUs = out[0] as number;
    assert.ok(Number.isInteger(atUs) && atUs >= 5_100, `delivery at ${atUs}`);
  }
  assert.deepEqual(network.fired, { drop: 0, duplicate: 0, reorder: 0, partitionDrop: 0, partitions: 0, slowed: 0 });
});

test('a slow link delays one direction by its extra latency until heal', () => {
  const network = new Network(new Rng('slow'), QUIET);
  const out: number[] = [];
  network.slowLink('n1', 'n2', 250_000);
  network.route('n1', 'n2', 0, out);
  network.route('n2', 'n1', 0, out);
  assert.ok(out[0]! >= 250_000, `slowed delivery at ${out[0]}`);
  assert.ok(out[1]! < 250_000, `reverse delivery at ${out[1]}`);
  assert.equal(network.fired.slowed, 1);
  network.heal();
  out.length = 0;
  network.route('n1', 'n2', 0, out);
  assert.ok(out[0]! < 250_000, 'healed');
});

test('a dropped message yields no delivery and counts a drop', () => {
  const network = new Network(new Rng('d'), { ...QUIET, dropRate: 1 });
  const out: number[] = [];
  for (let i = 0; i < 10; i++) assert.equal(network.route('n1', 'n2', 0, out), 0);
  assert.equal(out.length, 0);
  assert.equal(network.fired.drop, 10);
});

test('drops happen at close to dropRate', () => {
  const network = new Network(new Rng('rate'), { ...QUIET, dropRate: 0.25 });
  const out: number[] = [];
  let delivered = 0;
  for (let i = 0; i < 20_000; i++) delivered += network.route('n1', 'n2', 0, out);
  assert.equal(network.fired.drop + delivered, 20_000);
  assert.ok(Math.abs(network.fired.drop / 20_000 - 0.25) < 0.02, `drop rate ${network.fired.drop / 20_000}`);
});

test('a duplicated message yields two independent deliveries and counts a duplicate', () => {
  const network = new Network(new Rng('dup'), { ...QUIET, duplicateRate: 1 });
  const out: number[] = [];
  assert.equal(network.route('n1', 'n2', 0, out), 2);
  assert.equal(out.length, 2);
  assert.equal(network.fired.duplicate, 1);
  assert.equal(network.fired.drop, 0);
});

test('a reordered message is held back by up to reorderMaxUs and counts a reorder', () => {
  const config = { ...QUIET, latencyMeanUs: 0, reorderRate: 1, reorderMaxUs: 1_000_000 };
  const network = new Network(new Rng('re'), config);
  const out: number[] = [];
  for (let i = 0; i < 200; i++) network.route('n1', 'n2', 0, out);
  assert.equal(network.fired.reorder, 200);
  assert.ok(out.every((atUs) => atUs >= 100 && atUs <= 1_000_100));
  assert.ok(Math.max(...out) > 500_000, 'the extra delay spreads over its range');
});

test('messages sent later can arrive earlier: there is no per-link FIFO', () => {
  const network = new Network(new Rng('fifo'), { ...QUIET, latencyMeanUs: 10_000 });
  const out: number[] = [];
  for (let i = 0; i < 100; i++) network.route('n1', 'n2', i, out);
  assert.ok(out.some((atUs, i) => i > 0 && atUs < (out[i - 1] as number)));
});

test('a partition lets only endpoints of the same group talk and counts what it drops', () => {
  const network = new Network(new Rng('p'), QUIET);
  for (const id of ['n1', 'n2', 'n3', 'n4', 'n5']) network.register(id);
  network.partition([['n1', 'n2'], ['n3']]);
  assert.equal(network.fired.partitions, 1);
  const out: number[] = [];
  assert.equal(network.route('n1', 'n2', 0, out), 1);
  assert.equal(network.route('n1', 'n3', 0, out), 0);
  assert.equal(network.route('n3', 'n1', 0, out), 0);
  // n4 and n5 are registered but not named: they form a group of their own.
  assert.equal(network.route('n4', 'n5', 0, out), 1);
  assert.equal(network.route('n4', 'n1', 0, out), 0);
  assert.equal(network.route('n3', 'n5', 0, out), 0);
  assert.equal(network.fired.partitionDrop, 4);
  assert.equal(network.fired.drop, 0);
});

test('endpoints never registered nor named are not partitioned; named ones are', () => {
  const network = new Network(new Rng('c'), QUIET);
  for (const id of ['n1', 'n2', 'n3']) network.register(id);
  network.partition([['n1'], ['n2', 'client-b']]);
  for (const node of ['n1', 'n2', 'n3']) {
    assert.equal(network.isBlocked('client-a', node), false);
    assert.equal(network.isBlocked(node, 'client-a'), false);
  }
  assert.equal(network.isBlocked('client-b', 'n2'), false);
  assert.equal(network.isBlocked('client-b', 'n1'), true);
  assert.equal(network.isBlocked('n3', 'client-b'), true);
});

test('a node registered while a partition is in force joins the unnamed group', () => {
  const network = new Network(new Rng('late'), QUIET);
  network.register('n1');
  network.register('n2');
  network.partition([['n1']]);
  network.register('n3');
  assert.equal(network.isBlocked('n3', 'n2'), false);
  assert.equal(network.isBlocked('n3', 'n1'), true);
});

test('a new partition replaces the old one', () => {
  const network = new Network(new Rng('r'), QUIET);
  network.partition([['n1'], ['n2', 'n3']]);
  network.partition([['n1', 'n2'], ['n3']]);
  assert.equal(network.isBlocked('n1', 'n2'), false);
  assert.equal(network.isBlocked('n2', 'n3'), true);
  assert.equal(network.fired.partitions, 2);
  assert.throws(() => network.partition([['n1'], ['n1']]), /more than one group/);
});

test('a blocked link drops one direction only, until unblocked', () => {
  const network = new Network(new Rng('a'), QUIET);
  network.blockLink('n1', 'n2');
  const out: number[] = [];
  assert.equal(network.route('n1', 'n2', 0, out), 0);
  assert.equal(network.route('n2', 'n1', 0, out), 1);
  assert.equal(network.route('n1', 'n3', 0, out), 1);
  assert.equal(network.fired.partitionDrop, 1);
  assert.equal(network.fired.partitions, 1);
  network.blockLink('n1', 'n2'); // already blocked: nothing new happened
  assert.equal(network.fired.partitions, 1);
  network.unblockLink('n1', 'n2');
  assert.equal(network.isBlocked('n1', 'n2'), false);
  network.unblockLink('n1', 'n2'); // unblocking twice is harmless
  assert.equal(network.route('n1', 'n2', 0, out), 1);
});

test('heal removes every partition and blocked link', () => {
  const network = new Network(new Rng('h'), QUIET);
  for (const id of ['n1', 'n2', 'n3']) network.register(id);
  network.partition([['n1'], ['n2']]);
  network.blockLink('n3', 'n1');
  network.heal();
  for (const from of ['n1', 'n2', 'n3']) {
    for (const to of ['n1', 'n2', 'n3']) assert.equal(network.isBlocked(from, to), false, `${from}->${to}`);
  }
  assert.equal(network.fired.partitions, 2);
});

test('a partition-dropped message draws nothing, so the fates of other messages do not shift', () => {
  const config = { ...QUIET, dropRate: 0.3 };
  const plain = new Network(new Rng('s'), config);
  const partitioned = new Network(new Rng('s'), config);
  partitioned.blockLink('n9', 'n1');
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < 100; i++) {
    plain.route('n1', 'n2', i, a);
    partitioned.route('n9', 'n1', i, b);
    partitioned.route('n1', 'n2', i, b);
  }
  assert.deepEqual(a, b);
});

test('faults switch on and off with setConfig', () => {
  const network = new Network(new Rng('cfg'), { ...QUIET, dropRate: 1 });
  const out: number[] = [];
  assert.equal(network.route('n1', 'n2', 0, out), 0);
  network.setConfig(QUIET);
  assert.equal(network.route('n1', 'n2', 0, out), 1);
  assert.equal(network.fired.drop, 1);
  assert.throws(() => network.setConfig({ ...QUIET, dropRate: 1.5 }), /dropRate/);
  assert.throws(() => new Network(new Rng('x'), { ...QUIET, latencyMinUs: -1 }), /latencyMinUs/);
});
