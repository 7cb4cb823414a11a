// Arithmetic on resources (cpu millis, memory bytes). Reservations never go below zero: a
// subtraction that would is an accounting bug, so it asserts.

import { assert } from '../assert.ts';
import type { Resources } from './types.ts';

export const addResources = (a: Resources, b: Resources): Resources => ({
  cpuMillis: a.cpuMillis + b.cpuMillis,
  memoryBytes: a.memoryBytes + b.memoryBytes,
});

export function subtractResources(a: Resources, b: Resources): Resources {
  const result = { cpuMillis: a.cpuMillis - b.cpuMillis, memoryBytes: a.memoryBytes - b.memoryBytes };
  assert(result.cpuMillis >= 0 && result.memoryBytes >= 0, () => `reservation underflow: ${JSON.stringify(a)} - ${JSON.stringify(b)}`);
  return result;
}

/** Whether `used` stays within `capacity` on every dimension. */
export const fitsWithin = (used: Resources, capacity: Resources): boolean =>
  used.cpuMillis <= capacity.cpuMillis && used.memoryBytes <= capacity.memoryBytes;

export const sameResources = (a: Resources, b: Resources): boolean => a.cpuMillis === b.cpuMillis && a.memoryBytes === b.memoryBytes;
