import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventQueue, EVENT_QUEUE_MAX_EVENTS_DEFAULT } from './event-queue.ts';

function drain<E>(queue: EventQueue<E>): E[] {
  const out: E[] = [];
  for (let event = queue.pop(); event !== undefined; event = queue.pop()) out.push(event);
  return out;
}

test('events pop in order of time, ties in order of scheduling', () => {
  const queue = new EventQueue<string>();
  queue.schedule(30, 'c');
  queue.schedule(10, 'a1');
  queue.schedule(20, 'b');
  queue.schedule(10, 'a2');
  queue.schedule(10, 'a3');
  assert.deepEqual(drain(queue), ['a1', 'a2', 'a3', 'b', 'c']);
});

test('popping advances the clock to the event time and never back', () => {
  const queue = new EventQueue<number>();
  assert.equal(queue.nowUs, 0);
  queue.schedule(5, 1);
  queue.schedule(9, 2);
  assert.equal(queue.pop(), 1);
  assert.equal(queue.nowUs, 5);
  queue.schedule(5, 3); // at the current time is allowed
  assert.equal(queue.pop(), 3);
  assert.equal(queue.nowUs, 5);
  assert.equal(queue.pop(), 2);
  assert.equal(queue.nowUs, 9);
  assert.equal(queue.pop(), undefined);
  assert.equal(queue.nowUs, 9);
});

test('scheduling in the past is an assertion error', () => {
  const queue = new EventQueue<number>();
  queue.schedule(100, 1);
  queue.pop();
  assert.throws(() => queue.schedule(99, 2), /before nowUs=100/);
  assert.throws(() => queue.schedule(Number.NaN, 2), /not finite/);
  assert.throws(() => queue.schedule(Infinity, 2), /not finite/);
});

test('peekTimeUs is the earliest time, Infinity when empty, and size counts pending events', () => {
  const queue = new EventQueue<number>();
  assert.equal(queue.peekTimeUs(), Infinity);
  assert.equal(queue.size, 0);
  queue.schedule(7, 1);
  queue.schedule(3, 2);
  assert.equal(queue.peekTimeUs(), 3);
  assert.equal(queue.size, 2);
  queue.pop();
  assert.equal(queue.peekTimeUs(), 7);
  assert.equal(queue.size, 1);
});

test('exceeding maxEvents throws an error naming the bound', () => {
  assert.equal(new EventQueue<number>().maxEvents, EVENT_QUEUE_MAX_EVENTS_DEFAULT);
  const queue = new EventQueue<number>(3);
  queue.schedule(1, 1);
  queue.schedule(2, 2);
  queue.schedule(3, 3);
  assert.throws(() => queue.schedule(4, 4), /maxEvents=3/);
  queue.pop();
  queue.schedule(4, 4); // room again once an event has popped
  assert.equal(queue.size, 3);
});

test('advanceTo moves the clock without an event but never past a pending one', () => {
  const queue = new EventQueue<number>();
  queue.schedule(50, 1);
  queue.advanceTo(40);
  assert.equal(queue.nowUs, 40);
  assert.throws(() => queue.advanceTo(51), /next event=50/);
  assert.throws(() => queue.advanceTo(30), /nowUs=40/);
  assert.equal(queue.pop(), 1);
  queue.advanceTo(1_000);
  assert.equal(queue.nowUs, 1_000);
});

test('any interleaving of schedules and pops matches a stable sort by time', () => {
  const operation = fc.oneof(
    fc.record({ type: fc.constant('schedule' as const), delayUs: fc.integer({ min: 0, max: 20 }) }),
    fc.record({ type: fc.constant('pop' as const) }),
  );
  fc.assert(
    fc.property(fc.array(operation, { maxLength: 300 }), (operations) => {
      const queue = new EventQueue<number>();
      const model: { atUs: number; id: number }[] = [];
      let id = 0;
      for (const op of operations) {
        if (op.type === 'schedule') {
          const atUs = queue.nowUs + op.delayUs;
          queue.schedule(atUs, id);
          model.push({ atUs, id });
          id++;
        } else {
          model.sort((a, b) => a.atUs - b.atUs || a.id - b.id);
          const expected = model.shift();
          assert.equal(queue.pop(), expected?.id);
          if (expected !== undefined) assert.equal(queue.nowUs, expected.atUs);
        }
        assert.equal(queue.size, model.length);
      }
    }),
  );
});
