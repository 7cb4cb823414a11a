// Expected failures of the cluster store as values: a stable `code` (mapped to a gRPC status at the
// edge) and a message that says what was wrong and what is expected. Validation returns them before
// a command is proposed, and apply returns them when a command proposed against an older state is
// no longer valid. They are never thrown: a throw from core/state is an invariant violation.

export type StateErrorCode = 'invalid-argument' | 'not-found' | 'already-exists' | 'failed-precondition';

export interface StateError {
  readonly code: StateErrorCode;
  readonly message: string;
  /** For batch commands: the position of the offending item, so a proposer can drop it and retry. */
  readonly index?: number;
}

export const invalidArgument = (message: string): StateError => ({ code: 'invalid-argument', message });
export const notFound = (message: string): StateError => ({ code: 'not-found', message });
export const alreadyExists = (message: string): StateError => ({ code: 'already-exists', message });
export const failedPrecondition = (message: string): StateError => ({ code: 'failed-precondition', message });

/** The same error, located at item `index` of a batch. */
export const atIndex = (error: StateError, index: number): StateError => ({ ...error, index });

/** Optimistic concurrency: an update names the version it read. */
export function checkVersion(what: string, version: number, current: number): StateError | null {
  if (version === current) return null;
  if (version < current) return failedPrecondition(`version ${version} is stale: ${what} is at version ${current}`);
  return failedPrecondition(`version ${version} is not a version of ${what}: it is at version ${current}`);
}

/** Tells an error from a found object (no object of the store has a `code` field). */
export const isStateError = (value: object): value is StateError => 'code' in value;
