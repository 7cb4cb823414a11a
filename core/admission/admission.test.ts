import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AdmissionLimiter, validateAdmissionConfig } from './admission.ts';

test('a burst is admitted up to the bucket size, then shed with the rate limit and a retry hint', () => {
  const limiter = new AdmissionLimiter({ ratePerSecond: 100, burst: 5, maxInFlight: 100 });
  for (let i = 0; i < 5; i++) assert.deepEqual(limiter.admit(0), { ok: true });
  const shed = limiter.admit(0);
  assert.equal(shed.ok, false);
  if (shed.ok) return;
  assert.equal(shed.limit, 'rate');
  assert.equal(shed.retryAfterUs, 10_000, 'one token comes back every 10 ms at 100/s');
  assert.match(shed.message, /exceed 100\/s \(burst 5\)/);
  // After the retry hint, exactly one more is admitted.
  assert.equal(limiter.admit(10_000).ok, true);
  assert.equal(limiter.admit(10_000).ok, false);
  assert.equal(limiter.admitted, 6);
  assert.equal(limiter.shed, 2);
});

test('requests in flight are bounded until answers release them', () => {
  const limiter = new AdmissionLimiter({ ratePerSecond: 1_000_000, burst: 1_000, maxInFlight: 2 });
  assert.equal(limiter.admit(0).ok, true);
  assert.equal(limiter.admit(0).ok, true);
  const shed = limiter.admit(0);
  assert.equal(shed.ok, false);
  if (!shed.ok) {
    assert.equal(shed.limit, 'in-flight');
    assert.match(shed.message, /2 client requests in flight \(limit 2\)/);
    assert.ok(shed.retryAfterUs > 0);
  }
  limiter.release();
  assert.equal(limiter.admit(0).ok, true);
  limiter.reset();
  assert.equal(limiter.inFlightCount(), 0);
});

test('bad limits are refused with the name of the setting', () => {
  assert.throws(() => validateAdmissionConfig({ ratePerSecond: 0, burst: 1, maxInFlight: 1 }), /ratePerSecond must be a positive integer, got 0/);
  assert.throws(() => new AdmissionLimiter({ ratePerSecond: 1, burst: 1.5, maxInFlight: 1 }), /burst/);
});

test('over any run of requests, admissions never exceed burst plus rate times elapsed time', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 500 }),
      fc.integer({ min: 1, max: 50 }),
      fc.array(fc.integer({ min: 0, max: 20_000 }), { maxLength: 300 }),
      (rate, burst, gaps) => {
        const limiter = new AdmissionLimiter({ ratePerSecond: rate, burst, maxInFlight: 1_000_000 });
        let now = 0;
        let admitted = 0;
        for (const gap of gaps) {
          now += gap;
          if (limiter.admit(now).ok) admitted++;
          assert.ok(admitted <= burst + (now * rate) / 1e6 + 1e-9, `admitted ${admitted} by ${now} us`);
        }
      },
    ),
  );
});
