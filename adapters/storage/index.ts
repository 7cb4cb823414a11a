// The public surface of the storage adapter: the durable WAL + snapshot storage of one Raft node,
// its file-system layer, and the test file systems (fault injection, simulated power loss).

export { openStorage, WalStorage } from './wal.ts';
export type { StorageState, StorageStatus } from './wal.ts';
export type { Update } from './update.ts';
export { toMemoryStorage } from './recovery.ts';
export type { Recovered } from './recovery.ts';
export { defaultStorageOptions } from './options.ts';
export type { StorageOptions } from './options.ts';
export type { StorageMetrics } from './metrics.ts';
export { FSYNC_BUCKETS_MS } from './metrics.ts';
export { StorageError } from './errors.ts';
export type { StorageErrorCode } from './errors.ts';
export { nodeFileSystem } from './fs.ts';
export type { FileHandle, FileSystem } from './fs.ts';
export { FaultyFileSystem, fault } from './faulty-fs.ts';
export type { Fault, FaultRule } from './faulty-fs.ts';
export { MemoryFileSystem } from './memory-fs.ts';
export type { FsOperation } from './memory-fs.ts';
export { crc32c } from './crc32c.ts';
