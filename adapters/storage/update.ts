// Turning what a Raft Ready asks to persist into WAL record bodies, after checking it against the log
// as it will be once everything queued before it is written. The checks mirror MemoryStorage: a
// snapshot not newer than the current one is ignored (the core never sends one), entries at or below
// the snapshot are skipped, and entries must not leave a gap after the last index.
// A Ready bigger than maxRecordBytes becomes several records: the snapshot mark and the first entries
// first, the hard state last, so a torn write can lose a suffix of entries but never keep a hard
// state (commit index) without the entries it covers.

import type { Entry, HardState, Snapshot } from '../../core/raft/index.ts';
import { encodeReady, framedBytes, type EncodedBody } from './codec.ts';
import { StorageError } from './errors.ts';

/** What one Ready asks to persist. */
export interface Update {
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
}

/** Where the log stands: last index and snapshot index. */
export interface LogPosition {
  readonly lastIndex: number;
  readonly snapshotIndex: number;
}

export interface EncodedUpdate {
  readonly bodies: readonly EncodedBody[];
  readonly framedBytes: number;
  /** The snapshot to write as a file before the records (null if none, or ignored as not newer). */
  readonly snapshot: Snapshot | null;
  /** The entries written (those above the snapshot). */
  readonly entries: readonly Entry[];
  /** The highest index the records write (entries or snapshot mark); 0 if none. */
  readonly coverageIndex: number;
  readonly after: LogPosition;
}

/** Bytes an entry's record part can take at most (UTF-8 uses at most 3 bytes per UTF-16 unit). */
const entryBytesBound = (entry: Entry): number => 8 + 1 + 5 + entry.data.length * 3;

export function encodeUpdate(update: Update, before: LogPosition, maxRecordBytes: number): EncodedUpdate {
  const snapshot = update.snapshot && update.snapshot.meta.index > before.snapshotIndex ? update.snapshot : null;
  const snapshotIndex = snapshot ? snapshot.meta.index : before.snapshotIndex;
  const entries = liveEntries(update.entries, snapshotIndex);
  const lastBefore = snapshot ? snapshot.meta.index : before.lastIndex;
  if (entries.length > 0 && entries[0]!.index > lastBefore + 1) {
    throw new StorageError('invalid', `entries start at ${entries[0]!.index}, leaving a gap after the last index ${lastBefore}`);
  }
  const mark = snapshot ? { index: snapshot.meta.index, term: snapshot.meta.term } : null;
  const bodies = chunk(entries, maxRecordBytes).map((part, i, all) => encodeReady(i === 0 ? mark : null, part, i === all.length - 1 ? update.hardState : null));
  const lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : lastBefore;
  for (const body of bodies) {
    if (body.body.length > maxRecordBytes) throw new StorageError('invalid', `a record of ${body.body.length} bytes exceeds maxRecordBytes ${maxRecordBytes} (one entry too big)`);
  }
  return {
    bodies,
    framedBytes: bodies.reduce((sum, body) => sum + framedBytes(body), 0),
    snapshot,
    entries,
    coverageIndex: Math.max(mark ? mark.index : 0, entries.length > 0 ? lastIndex : 0),
    after: { lastIndex, snapshotIndex },
  };
}

/** The entries above the snapshot index, checked to be contiguous. */
function liveEntries(entries: readonly Entry[], snapshotIndex: number): readonly Entry[] {
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (!Number.isSafeInteger(entry.index) || entry.index < 1 || !Number.isSafeInteger(entry.term) || entry.term < 0) {
      throw new StorageError('invalid', `entry ${i} has index ${entry.index} term ${entry.term}: both must be non-negative integers, index at least 1`);
    }
    if (i > 0 && entry.index !== entries[i - 1]!.index + 1) {
      throw new StorageError('invalid', `entries are not contiguous: ${entries[i - 1]!.index} then ${entry.index}`);
    }
  }
  let from = 0;
  while (from < entries.length && entries[from]!.index <= snapshotIndex) from++;
  return from === 0 ? entries : entries.slice(from);
}

/** Splits entries into runs whose records stay under maxRecordBytes (always at least one run). */
function chunk(entries: readonly Entry[], maxRecordBytes: number): (readonly Entry[])[] {
  const runs: (readonly Entry[])[] = [];
  const headroomBytes = 128; // flags, snapshot mark, counts, hard state
  let start = 0;
  let bytes = headroomBytes;
  for (let i = 0; i < entries.length; i++) {
    const size = entryBytesBound(entries[i]!);
    if (i > start && bytes + size > maxRecordBytes) {
      runs.push(entries.slice(start, i));
      start = i;
      bytes = headroomBytes;
    }
    bytes += size;
  }
  runs.push(start === 0 ? entries : entries.slice(start));
  return runs;
}
