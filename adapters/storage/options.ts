// The storage configuration: one typed object with defaults, validated once when the storage opens.

import { StorageError } from './errors.ts';
import { nodeFileSystem, type FileSystem } from './fs.ts';

export interface StorageOptions {
  /** The file-system layer (tests inject faults or simulated power loss here). */
  readonly fileSystem: FileSystem;
  /** A new segment starts when the next batch would take the current one past this size. */
  readonly segmentSizeBytes: number;
  /**
   * When a batch reaches past what the active segment holds, the same write extends it with this
   * many zero bytes beyond the batch (up to segmentSizeBytes), so most batches overwrite bytes that
   * are already allocated and the fsync need not also make a new file size durable. 0: no zeros.
   */
  readonly preallocateBytes: number;
  /** The largest record body; a bigger Ready is split into several records (entries first). */
  readonly maxRecordBytes: number;
  /** A group-commit batch stops growing at this size (one write + one fsync per batch). */
  readonly maxBatchBytes: number;
  /** Appends queued behind the fsync in progress, in bytes; beyond it append rejects (overloaded). */
  readonly maxQueuedBytes: number;
  /** While the disk is full, how often a probe checks whether space came back. */
  readonly diskFullProbeIntervalMs: number;
  /** How much the probe writes (and fsyncs, then deletes) to call the disk writable again. */
  readonly diskFullProbeBytes: number;
  /** A monotonic clock in milliseconds, for fsync latency. */
  readonly nowMs: () => number;
}

export const defaultStorageOptions: StorageOptions = {
  fileSystem: nodeFileSystem,
  segmentSizeBytes: 64 * 1024 * 1024,
  preallocateBytes: 256 * 1024,
  maxRecordBytes: 16 * 1024 * 1024,
  maxBatchBytes: 16 * 1024 * 1024,
  maxQueuedBytes: 256 * 1024 * 1024,
  diskFullProbeIntervalMs: 1000,
  diskFullProbeBytes: 1024 * 1024,
  nowMs: () => performance.now(),
};

const MIN_RECORD_BYTES = 1024;

export function resolveStorageOptions(partial: Partial<StorageOptions>): StorageOptions {
  const options = { ...defaultStorageOptions, ...partial };
  const positive: (keyof StorageOptions)[] = ['segmentSizeBytes', 'maxRecordBytes', 'maxBatchBytes', 'maxQueuedBytes', 'diskFullProbeIntervalMs', 'diskFullProbeBytes'];
  for (const key of positive) {
    const value = options[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new StorageError('invalid', `storage option ${key} must be a positive integer, got ${String(value)}`);
    }
  }
  if (!Number.isSafeInteger(options.preallocateBytes) || options.preallocateBytes < 0) {
    throw new StorageError('invalid', `storage option preallocateBytes must be an integer 0 or greater, got ${String(options.preallocateBytes)}`);
  }
  if (options.maxRecordBytes < MIN_RECORD_BYTES) {
    throw new StorageError('invalid', `storage option maxRecordBytes must be at least ${MIN_RECORD_BYTES}, got ${options.maxRecordBytes}`);
  }
  return options;
}
