// Opening a data directory: what survives on disk, read back and checked. Leftover temporary files
// are deleted; the newest snapshot file is loaded (a bad one is a hard error: it was written
// atomically, so damage is not a crash artefact); segments must have consecutive sequence numbers
// and each starts with its header. Damage in a segment other than the last, or before a later batch
// in the last one, is a hard error naming the file and offset; a torn tail of the last segment is cut
// (and the cut fsynced) before anything new is written.

import { dirname, join } from 'node:path';
import { emptyHardState, MemoryStorage, type ConfState, type Entry, type HardState, type Snapshot } from '../../core/raft/index.ts';
import { DecodeError } from './bytes.ts';
import { decodeSnapshotFile } from './codec.ts';
import { StorageError } from './errors.ts';
import { parseSegmentName, parseSnapshotName, segmentName, TEMP_SUFFIX } from './files.ts';
import type { FileSystem } from './fs.ts';
import { LogReplay } from './replay.ts';
import { scanSegment, type ScannedRecord } from './scan.ts';

/** What the daemon restarts from. */
export interface Recovered {
  readonly hardState: HardState;
  /** The newest snapshot (index 0 for a bootstrapped member that has not snapshotted yet), or null. */
  readonly snapshot: Snapshot | null;
  /** The log after the snapshot, contiguous from its index + 1 (or from 1). */
  readonly entries: readonly Entry[];
  /** The membership as of the snapshot (later conf entries are in `entries`). */
  readonly conf: ConfState;
  /** What recovery repaired, for the log: torn tails cut, temporary files removed. */
  readonly repairs: readonly string[];
}

export interface SegmentInfo {
  readonly sequence: number;
  readonly name: string;
  /** The highest index this segment's records wrote (entries or snapshot marks); 0 if none. */
  coverageIndex: number;
}

export interface RecoveredLayout {
  readonly segments: SegmentInfo[];
  /** Where the next record of the last segment goes (0 when there is no segment yet). */
  readonly activeEndBytes: number;
  /** The last segment's length on disk (zeros the WAL allocated ahead follow activeEndBytes). */
  readonly activeAllocatedBytes: number;
  /** Where the last segment's header ends. */
  readonly activeHeaderBytes: number;
  readonly snapshotNames: string[];
  /** Set when the WAL does not lead to the snapshot: mark it before appending (see replay.ts). */
  readonly snapshotMarkNeeded: boolean;
}

const emptyConf: ConfState = { voters: [], learners: [] };

export async function recover(fs: FileSystem, dir: string): Promise<{ recovered: Recovered; layout: RecoveredLayout }> {
  await fs.mkdir(dir);
  await fs.syncDir(dirname(dir)); // a data directory just created must not vanish in a power loss
  const repairs: string[] = [];
  const names = await removeTemporaryFiles(fs, dir, await fs.readdir(dir), repairs);
  const { snapshot, snapshotNames } = await loadNewestSnapshot(fs, dir, names);
  const sequences = names.map(parseSegmentName).filter((s): s is number => s !== null).sort((a, b) => a - b);
  const replay = new LogReplay();
  const segments: SegmentInfo[] = [];
  let hardState: HardState = emptyHardState;
  let activeEndBytes = 0;
  let activeAllocatedBytes = 0;
  let activeHeaderBytes = 0;
  for (let i = 0; i < sequences.length; i++) {
    const sequence = sequences[i]!;
    if (i > 0 && sequence !== sequences[i - 1]! + 1) {
      throw new StorageError('corrupt', `${join(dir, segmentName(sequence))}: segment ${sequences[i - 1]! + 1} before it is missing`);
    }
    const isLast = i === sequences.length - 1;
    const { records, endBytes, allocatedBytes } = await readSegment(fs, dir, sequence, isLast, repairs);
    const info: SegmentInfo = { sequence, name: segmentName(sequence), coverageIndex: 0 };
    for (const { offset, record } of records) {
      const where = `${join(dir, info.name)} at offset ${offset}`;
      if (record.type === 'segment-header') {
        if (offset !== 0 || record.sequence !== sequence) throw new StorageError('corrupt', `${where}: segment header for sequence ${record.sequence} out of place`);
        hardState = record.hardState;
        continue;
      }
      if (record.snapshot) {
        replay.markSnapshot(record.snapshot);
        info.coverageIndex = Math.max(info.coverageIndex, record.snapshot.index);
      }
      if (record.entries.length > 0) {
        replay.append(record.entries, where);
        info.coverageIndex = Math.max(info.coverageIndex, record.entries[record.entries.length - 1]!.index);
      }
      if (record.hardState) hardState = record.hardState;
    }
    segments.push(info);
    if (isLast) {
      activeEndBytes = endBytes;
      activeAllocatedBytes = allocatedBytes;
      activeHeaderBytes = records[0]!.end;
    }
  }
  const anchor = snapshot ? { index: snapshot.meta.index, term: snapshot.meta.term } : { index: 0, term: 0 };
  const { entries, dropped, needsMark } = replay.finish(anchor);
  if (dropped > 0) repairs.push(`dropped ${dropped} entries after the snapshot at ${anchor.index}: they did not follow it (snapshot installed, crash before the WAL recorded it)`);
  const lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : anchor.index;
  if (hardState.commit > lastIndex) {
    throw new StorageError('corrupt', `${dir}: hard state commit ${hardState.commit} is beyond the last durable index ${lastIndex}`);
  }
  const recovered: Recovered = { hardState, snapshot, entries, conf: snapshot ? snapshot.meta.conf : emptyConf, repairs };
  return { recovered, layout: { segments, activeEndBytes, activeAllocatedBytes, activeHeaderBytes, snapshotNames, snapshotMarkNeeded: needsMark } };
}

async function removeTemporaryFiles(fs: FileSystem, dir: string, names: string[], repairs: string[]): Promise<string[]> {
  const temporary = names.filter((name) => name.endsWith(TEMP_SUFFIX));
  for (const name of temporary) {
    await fs.unlink(join(dir, name));
    repairs.push(`removed leftover temporary file ${join(dir, name)}`);
  }
  if (temporary.length > 0) await fs.syncDir(dir);
  return names.filter((name) => !name.endsWith(TEMP_SUFFIX));
}

/** The newest snapshot file; older ones are left for the storage to delete. */
async function loadNewestSnapshot(fs: FileSystem, dir: string, names: string[]): Promise<{ snapshot: Snapshot | null; snapshotNames: string[] }> {
  const found = names
    .map((name) => ({ name, parsed: parseSnapshotName(name) }))
    .filter((item): item is { name: string; parsed: { index: number; term: number } } => item.parsed !== null)
    .sort((a, b) => a.parsed.index - b.parsed.index || a.parsed.term - b.parsed.term);
  const snapshotNames = found.map((item) => item.name);
  const newest = found[found.length - 1];
  if (!newest) return { snapshot: null, snapshotNames };
  const path = join(dir, newest.name);
  let snapshot: Snapshot;
  try {
    snapshot = decodeSnapshotFile(await fs.readFile(path));
  } catch (error) {
    if (error instanceof DecodeError) throw new StorageError('corrupt', `${path}: ${error.message}`, { cause: error });
    throw error;
  }
  if (snapshot.meta.index !== newest.parsed.index || snapshot.meta.term !== newest.parsed.term) {
    throw new StorageError('corrupt', `${path}: holds the snapshot at index ${snapshot.meta.index} term ${snapshot.meta.term}, not what its name says`);
  }
  return { snapshot, snapshotNames };
}

async function readSegment(fs: FileSystem, dir: string, sequence: number, isLast: boolean, repairs: string[]): Promise<{ records: readonly ScannedRecord[]; endBytes: number; allocatedBytes: number }> {
  const path = join(dir, segmentName(sequence));
  const bytes = await fs.readFile(path);
  const scan = scanSegment(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const first = scan.records[0];
  if (first === undefined || first.record.type !== 'segment-header') {
    const reason = scan.tail.kind === 'clean' ? 'no segment header' : scan.tail.reason;
    throw new StorageError('corrupt', `${path} at offset 0: segment header unreadable (${reason})`);
  }
  switch (scan.tail.kind) {
    case 'clean':
      return { records: scan.records, endBytes: scan.validEnd, allocatedBytes: bytes.length };
    case 'corrupt':
      throw new StorageError('corrupt', `${path} at offset ${scan.tail.offset}: ${scan.tail.reason}; a later batch at offset ${scan.tail.laterBatchAt} shows this data had been synced`);
    case 'torn': {
      if (!isLast) throw new StorageError('corrupt', `${path} at offset ${scan.tail.offset}: ${scan.tail.reason} in a segment that was complete (a later segment exists)`);
      const handle = await fs.openForWrite(path);
      try {
        await handle.truncate(scan.validEnd);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      repairs.push(`cut the torn tail of ${path} at offset ${scan.tail.offset} (${bytes.length - scan.validEnd} bytes: ${scan.tail.reason})`);
      return { records: scan.records, endBytes: scan.validEnd, allocatedBytes: scan.validEnd };
    }
  }
}

/** The MemoryStorage the Raft core reads, rebuilt exactly as the simulator's shell rebuilds it. */
export function toMemoryStorage(recovered: Recovered): MemoryStorage {
  const storage = new MemoryStorage();
  if (recovered.snapshot) {
    if (recovered.snapshot.meta.index === 0) storage.bootstrap(recovered.snapshot.meta.conf);
    else storage.applySnapshot(recovered.snapshot);
  }
  storage.append(recovered.entries);
  storage.setHardState(recovered.hardState);
  return storage;
}
