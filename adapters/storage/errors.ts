// The typed errors of the storage adapter. Expected failures carry a stable `code` the daemon maps
// to its health report and to gRPC statuses; the message says what was wrong and where.
//   disk-full  a write hit ENOSPC: nothing of it was acknowledged; the storage is read-only until a
//              probe finds space again (status().state tells).
//   io-error   a write or fsync failed otherwise (EIO...): nothing of it was acknowledged; the
//              storage refuses every later write until it is closed and opened again (recovery).
//   corrupt    on open: a checksum or structure failure that is not a torn tail (a synced record,
//              a snapshot file, a missing segment). Never repaired silently.
//   overloaded more appends are queued behind the fsync in progress than maxQueuedBytes allows.
//   closed     the storage was closed.
//   invalid    the caller broke a precondition (non-contiguous entries, snapshot not newer, ...).

export type StorageErrorCode = 'disk-full' | 'io-error' | 'corrupt' | 'overloaded' | 'closed' | 'invalid';

export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The errno-style code of a file-system error (ENOSPC, EIO, ...), or null. */
export function errnoCode(error: unknown): string | null {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof (error as { code: unknown }).code === 'string') {
    return (error as { code: string }).code;
  }
  return null;
}

export function isDiskFull(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Wraps a failed file-system call as the StorageError the caller sees. */
export function writeFailure(error: unknown, what: string): StorageError {
  if (error instanceof StorageError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return isDiskFull(error)
    ? new StorageError('disk-full', `disk full while ${what}: ${detail}`, { cause: error })
    : new StorageError('io-error', `I/O error while ${what}: ${detail}`, { cause: error });
}
