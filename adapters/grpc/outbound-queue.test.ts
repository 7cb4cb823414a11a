// The per-peer outbound queue: bounds always hold, the oldest non-snapshot messages go first, a full
// queue of snapshot chunks drops the newest chunk, order is kept, and every message is accounted for
// (checked against a naive model over random operation sequences). Also the reconnect backoff.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Backoff } from './backoff.ts';
import { OutboundQueue, type QueuedMessage } from './outbound-queue.ts';

const item = (id: number, bytes: number, snapshot = false): QueuedMessage => {
  const buffer = Buffer.alloc(bytes);
  buffer.writeUInt32LE(id, 0);
  return { bytes: buffer, snapshot };
};
const idOf = (m: QueuedMessage): number => m.bytes.readUInt32LE(0);

test('over its message bound the queue drops the oldest messages and keeps the order of the rest', () => {
  const queue = new OutboundQueue(3, 1000);
  const dropped: number[] = [];
  for (let id = 1; id <= 5; id++) for (const d of queue.push(item(id, 10))) dropped.push(idOf(d.item));
  assert.deepStrictEqual(dropped, [1, 2]);
  assert.deepStrictEqual(queue.take(1000).map(idOf), [3, 4, 5]);
  assert.equal(queue.count, 0);
  assert.equal(queue.bytes, 0);
});

test('snapshot chunks are kept while older non-snapshot messages are dropped around them', () => {
  const queue = new OutboundQueue(3, 1000);
  queue.push(item(1, 10, true));
  queue.push(item(2, 10));
  queue.push(item(3, 10, true));
  const dropped = queue.push(item(4, 10)).map((d) => idOf(d.item));
  assert.deepStrictEqual(dropped, [2]);
  assert.deepStrictEqual(queue.take(1000).map(idOf), [1, 3, 4]);
});

test('a queue full of snapshot chunks drops the newest chunk, keeping the in-order prefix', () => {
  const queue = new OutboundQueue(2, 1000);
  queue.push(item(1, 10, true));
  queue.push(item(2, 10, true));
  const dropped = queue.push(item(3, 10, true));
  assert.deepStrictEqual(dropped.map((d) => [idOf(d.item), d.reason]), [[3, 'overflow']]);
  assert.deepStrictEqual(queue.take(1000).map(idOf), [1, 2]);
});

test('the byte bound holds and a message larger than it is refused as oversize', () => {
  const queue = new OutboundQueue(100, 100);
  assert.deepStrictEqual(queue.push(item(1, 101)).map((d) => d.reason), ['oversize']);
  queue.push(item(2, 60));
  const dropped = queue.push(item(3, 60));
  assert.deepStrictEqual(dropped.map((d) => idOf(d.item)), [2]);
  assert.equal(queue.bytes, 60);
});

test('take returns at least one message, then as many as fit', () => {
  const queue = new OutboundQueue(10, 1000);
  for (let id = 1; id <= 4; id++) queue.push(item(id, 100));
  assert.deepStrictEqual(queue.take(50).map(idOf), [1]);
  assert.deepStrictEqual(queue.take(250).map(idOf), [2, 3]);
  assert.deepStrictEqual(queue.take(250).map(idOf), [4]);
  assert.deepStrictEqual(queue.take(250), []);
});

test('memory stays bounded when a snapshot chunk at the head is never taken and newer messages keep overflowing', () => {
  const queue = new OutboundQueue(16, 1 << 20);
  queue.push(item(0, 10, true));
  let maxSlots = 0;
  for (let id = 1; id <= 100_000; id++) {
    queue.push(item(id, 10, id % 7 === 0));
    maxSlots = Math.max(maxSlots, queue.slotsHeld);
    if (id % 1000 === 0) queue.take(20); // a slow drain now and then
  }
  assert.ok(queue.count <= 16);
  assert.ok(maxSlots <= 2 * 16 + 64 + 1, `slots held peaked at ${maxSlots}`);
});

type Op = { kind: 'push'; bytes: number; snapshot: boolean } | { kind: 'take'; maxBytes: number };

test('against a naive model: same drops, same order, bounds after every push, every message accounted for', () => {
  const arbOp: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('push' as const), bytes: fc.integer({ min: 4, max: 60 }), snapshot: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('take' as const), maxBytes: fc.integer({ min: 1, max: 200 }) }) },
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 60, max: 300 }), fc.array(arbOp, { maxLength: 300 }), (maxMessages, maxBytes, ops) => {
      const queue = new OutboundQueue(maxMessages, maxBytes);
      let model: QueuedMessage[] = [];
      const modelBytes = (): number => model.reduce((sum, m) => sum + m.bytes.length, 0);
      let nextId = 0;
      let pushed = 0;
      let taken = 0;
      let dropped = 0;
      for (const op of ops) {
        if (op.kind === 'push') {
          const m = item(nextId++, op.bytes, op.snapshot);
          pushed++;
          const expected: number[] = [];
          model.push(m);
          while (model.length > maxMessages || modelBytes() > maxBytes) {
            const victim = model.findIndex((x) => !x.snapshot);
            const index = victim === -1 ? model.length - 1 : victim;
            expected.push(idOf(model[index]!));
            model.splice(index, 1);
          }
          const actual = queue.push(m).map((d) => idOf(d.item));
          dropped += actual.length;
          assert.deepStrictEqual(actual, expected);
          assert.ok(queue.count <= maxMessages && queue.bytes <= maxBytes);
        } else {
          const got = queue.take(op.maxBytes);
          taken += got.length;
          const expected: QueuedMessage[] = [];
          let bytes = 0;
          while (model.length > 0 && (expected.length === 0 || bytes + model[0]!.bytes.length <= op.maxBytes)) {
            bytes += model[0]!.bytes.length;
            expected.push(model.shift()!);
          }
          assert.deepStrictEqual(got.map(idOf), expected.map(idOf));
        }
        assert.equal(queue.count, model.length);
        assert.equal(queue.bytes, modelBytes());
      }
      const rest = queue.clear();
      assert.deepStrictEqual(rest.map(idOf), model.map(idOf));
      assert.equal(pushed, taken + dropped + rest.length);
      model = [];
    }),
    { numRuns: 300 },
  );
});

test('backoff doubles from min to max, stays within [ceiling/2, ceiling], and resets', () => {
  const draws = [0, 0.999, 0.5];
  let i = 0;
  const backoff = new Backoff(50, 2000, () => draws[i++ % draws.length]!);
  const delays = Array.from({ length: 9 }, () => backoff.nextDelayMs());
  const ceilings = [50, 100, 200, 400, 800, 1600, 2000, 2000, 2000];
  delays.forEach((delay, n) => assert.ok(delay >= ceilings[n]! / 2 && delay <= ceilings[n]!, `attempt ${n}: ${delay} ms`));
  assert.equal(delays[0], 25);
  backoff.reset();
  i = 0;
  assert.equal(backoff.nextDelayMs(), 25);
  for (let n = 0; n < 2000; n++) backoff.nextDelayMs();
  assert.ok(Number.isFinite(backoff.nextDelayMs()) && backoff.nextDelayMs() <= 2000);
});
