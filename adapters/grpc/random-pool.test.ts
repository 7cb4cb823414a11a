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

test('pooled random bytes are copies: changing one leaves later draws alone', () => {
  const a = randomBytesPooled(16);
  a.fill(0);
  const b = randomBytesPooled(16);
  assert.notDeepEqual(b, Buffer.alloc(16));
});

test('pooled random bytes refuse sizes outside 0..4096', () => {
  assert.throws(() => randomBytesPooled(4097), /0 to 4096 bytes, got 4097/);
  assert.throws(() => randomBytesPooled(-1), RangeError);
  assert.equal(randomBytesPooled(0).length, 0);
  assert.equal(randomBytesPooled(4096).length, 4096);
});
