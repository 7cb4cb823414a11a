// Names of the files in a data directory, and the atomic whole-file write used for snapshots and
// new segments. A data directory holds:
//   wal-<sequence, 16 hex>.log       WAL segments, consecutive sequence numbers, oldest first
//   snap-<index, 16 hex>-<term, 16 hex>.snap   snapshot files; only the newest counts
//   *.tmp                            leftovers of an interrupted atomic write, deleted on open
// Invariant: a name without .tmp exists only after its content was fsynced (write, fsync, rename,
// fsync of the directory), so a segment or snapshot file is never seen half-created.

import { join } from 'node:path';
import { writeFully, type FileHandle, type FileSystem } from './fs.ts';

export const TEMP_SUFFIX = '.tmp';
const SEGMENT_PATTERN = /^wal-([0-9a-f]{16})\.log$/;
const SNAPSHOT_PATTERN = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

const hex16 = (value: number): string => value.toString(16).padStart(16, '0');

export function segmentName(sequence: number): string {
  return `wal-${hex16(sequence)}.log`;
}

export function parseSegmentName(name: string): number | null {
  const match = SEGMENT_PATTERN.exec(name);
  return match ? Number.parseInt(match[1]!, 16) : null;
}

export function snapshotName(index: number, term: number): string {
  return `snap-${hex16(index)}-${hex16(term)}.snap`;
}

export function parseSnapshotName(name: string): { index: number; term: number } | null {
  const match = SNAPSHOT_PATTERN.exec(name);
  return match ? { index: Number.parseInt(match[1]!, 16), term: Number.parseInt(match[2]!, 16) } : null;
}

/**
 * Writes `bytes` as dir/name atomically: to name.tmp, fsynced, renamed over name, directory fsynced.
 * Returns the handle still open when keepOpen is set (for a new segment), else null. On failure the
 * temporary file is removed (best effort) and the error is rethrown.
 */
export async function writeFileAtomically(fs: FileSystem, dir: string, name: string, bytes: Uint8Array, keepOpen: boolean): Promise<FileHandle | null> {
  const temp = join(dir, name + TEMP_SUFFIX);
  let handle: FileHandle | null = null;
  try {
    handle = await fs.create(temp);
    await writeFully(handle, bytes, 0);
    await handle.sync();
    await fs.rename(temp, join(dir, name));
  } catch (error) {
    if (handle) await handle.close().catch(() => {});
    await fs.unlink(temp).catch(() => {});
    throw error;
  }
  try {
    await fs.syncDir(dir);
  } catch (error) {
    await handle.close().catch(() => {});
    throw error;
  }
  if (keepOpen) return handle;
  await handle.close();
  return null;
}

/**
 * Writes and fsyncs `bytes` zeros to a scratch file, then deletes it: succeeds only if the disk has
 * that much room (ENOSPC otherwise). The disk-full mode uses it to decide when to accept writes again.
 */
export async function probeFreeSpace(fs: FileSystem, dir: string, bytes: number): Promise<void> {
  const path = join(dir, `space-probe${TEMP_SUFFIX}`);
  const handle = await fs.create(path);
  try {
    await writeFully(handle, Buffer.alloc(bytes), 0);
    await handle.datasync();
  } finally {
    await handle.close().catch(() => {});
    await fs.unlink(path).catch(() => {});
  }
}
