import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytesPooled } from './random-pool.ts';

test('pooled random bytes are never handed out twice, also across refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const bytes = randomBytesPooled(12);
    assert.equal(bytes.length, 12);
    const hex = bytes.toString('hex');
    assert.ok(!seen.has(hex), `bytes repeated at draw ${i}`);
    seen.add(hex);
  }
});

test('pooled random bytes are copies: refilling the pool leaves bytes already handed out alone', () => {
  const kept = randomBytesPooled(16);
  const before = Buffer.from(kept);
  for (let drawn = 0; drawn < 2 * 4096; drawn += 64) randomBytesPooled(64); // at least one refill
  assert.deepEqual(kept, before);
});

test('pooled random bytes refuse sizes outside 0..4096', () => {
  assert.throws(() => randomBytesPooled(4097), /0 to 4096 bytes, got 4097/);
  assert.throws(() => randomBytesPooled(-1), RangeError);
  assert.equal(randomBytesPooled(0).length, 0);
  assert.equal(randomBytesPooled(4096).length, 4096);
});
