// CRC-32C against published vectors, its incremental form, and its power to see bit flips.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c, crc32cFinish, crc32cInit, crc32cUpdate } from './crc32c.ts';

test('crc32c matches the published check value and the RFC 3720 vectors', () => {
  assert.equal(crc32c(Buffer.from('123456789', 'ascii')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
});

test('crc32c over a range, or fed in pieces, equals crc32c of the bytes at once', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (bytes, a, b) => {
      const cut = bytes.length === 0 ? 0 : a % (bytes.length + 1);
      const whole = crc32c(bytes);
      assert.equal(crc32cFinish(crc32cUpdate(crc32cUpdate(crc32cInit, bytes, 0, cut), bytes, cut)), whole);
      const padded = new Uint8Array(bytes.length + 16);
      const offset = b % 8;
      padded.set(bytes, offset);
      assert.equal(crc32c(padded, offset, offset + bytes.length), whole);
    }),
  );
});

test('crc32c detects every single-bit flip of a record-sized buffer', () => {
  const bytes = Uint8Array.from({ length: 200 }, (_, i) => (i * 37) & 0xff);
  const reference = crc32c(bytes);
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    bytes[bit >> 3]! ^= 1 << (bit & 7);
    assert.notEqual(crc32c(bytes), reference, `flip of bit ${bit} went unnoticed`);
    bytes[bit >> 3]! ^= 1 << (bit & 7);
  }
});
