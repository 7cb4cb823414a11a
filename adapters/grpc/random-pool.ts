// Cryptographically random bytes drawn from a pool refilled a few KiB at a time: crypto.randomBytes
// costs a call into the system's generator each time, which showed in a busy manager's profile
// (an id and an IV for every secret written). The bytes are the same CSPRNG output, each handed out
// once and copied, so a caller may keep them.

import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

/** `count` fresh random bytes (at most the pool's size). */
export function randomBytesPooled(count: number): Buffer {
  if (!Number.isInteger(count) || count < 0 || count > POOL_BYTES) throw new RangeError(`randomBytesPooled takes 0 to ${POOL_BYTES} bytes, got ${count}`);
  if (offset + count > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = Buffer.from(pool.subarray(offset, offset + count));
  offset += count;
  return bytes;
}
