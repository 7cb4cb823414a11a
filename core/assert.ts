// Invariant checking for the core (TIGER_STYLE): a failed assertion is a bug, never an expected
// failure. In the simulator it fails the run and prints its replay; in the daemon it stops the node.

export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'string' ? message : message());
}

export function assertNever(value: never, what = 'value'): never {
  throw new InvariantError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
