// The segments of the WAL and the one being written. A segment is created whole: its header record
// goes to a temporary file, fsynced, renamed into place and the directory fsynced, so a segment name
// never points at a file without a valid header. Records are appended to the active segment one
// batch at a time: one write, one fdatasync. A batch that would take the active segment past its
// size goes to a new segment (a segment holds whole batches, so the limit is soft by at most a batch).
// A batch that reaches past the end of the file carries zero bytes after it (preallocateBytes, up to
// the segment size) in the same write: the next batches overwrite allocated bytes, and their
// fdatasync need not also make a new file size durable (scan.ts reads an all-zero tail as the end).
// Invariants: `endBytes` is the synced end of the records of the active segment; bytes beyond it are
// zeros written with an earlier batch, or (after a failed write) cut, and the cut synced, before the
// next batch is written; the oldest segments are removed only as a prefix and never the active one.

import { join } from 'node:path';
import type { HardState } from '../../core/raft/index.ts';
import { encodeSegmentHeader, frameRecord, framedBytes, type EncodedBody } from './codec.ts';
import { StorageError, writeFailure } from './errors.ts';
import { segmentName, writeFileAtomically } from './files.ts';
import { writeFully, type FileHandle, type FileSystem } from './fs.ts';
import type { MetricsRecorder } from './metrics.ts';
import type { SegmentInfo } from './recovery.ts';

export interface ActiveSegment {
  readonly info: SegmentInfo;
  readonly handle: FileHandle;
  /** Bytes written and synced; the next batch starts here. */
  endBytes: number;
  /** The file's length: records up to endBytes, zeros after. */
  allocatedBytes: number;
  /** Where the segment header ends: a segment holding only its header never rotates. */
  readonly headerBytes: number;
}

/** Creates segment `sequence` whose header carries the hard state durable at that moment. */
export async function createSegment(fs: FileSystem, dir: string, sequence: number, hardState: HardState): Promise<ActiveSegment> {
  const header = encodeSegmentHeader(sequence, hardState);
  const bytes = Buffer.allocUnsafe(framedBytes(header));
  frameRecord(bytes, 0, header, 0);
  const name = segmentName(sequence);
  const handle = await writeFileAtomically(fs, dir, name, bytes, true);
  return { info: { sequence, name, coverageIndex: 0 }, handle: handle!, endBytes: bytes.length, allocatedBytes: bytes.length, headerBytes: bytes.length };
}

export class SegmentLog {
  /** Set when bytes beyond active.endBytes may be on disk (a failed write): cut before writing. */
  private tailDirty = false;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly segmentSizeBytes: number,
    private readonly preallocateBytes: number,
    private readonly nowMs: () => number,
    private readonly recorder: MetricsRecorder,
    private readonly warn: (message: string) => void,
    /** Oldest first; the last one is the active segment. */
    readonly segments: SegmentInfo[],
    public active: ActiveSegment,
  ) {}

  /**
   * Appends one batch of records and fsyncs it; on failure nothing of it counts and its bytes are
   * cut (best effort now, certainly before the next batch). `hardState` goes into the header of a
   * new segment if one is needed: it must be the hard state durable before this batch.
   */
  async write(bodies: readonly EncodedBody[], hardState: HardState): Promise<void> {
    await this.cutTail();
    const bytes = bodies.reduce((sum, body) => sum + framedBytes(body), 0);
    if (this.active.endBytes > this.active.headerBytes && this.active.endBytes + bytes > this.segmentSizeBytes) await this.rotate(hardState);
    const start = this.active.endBytes;
    const reach = start + bytes;
    const zeros = reach <= this.active.allocatedBytes || this.preallocateBytes === 0 ? 0 : Math.max(0, Math.min(reach + this.preallocateBytes, this.segmentSizeBytes) - reach);
    const buffer = Buffer.allocUnsafe(bytes + zeros);
    let offset = 0;
    for (const body of bodies) offset = frameRecord(buffer, offset, body, start);
    buffer.fill(0, bytes);
    this.tailDirty = true;
    try {
      await writeFully(this.active.handle, buffer, start);
    } catch (error) {
      await this.cutTail().catch(() => {});
      throw writeFailure(error, `writing ${bytes} bytes to ${this.active.info.name} at offset ${start}`);
    }
    try {
      await this.sync();
    } catch (error) {
      await this.cutTail().catch(() => {});
      throw error;
    }
    this.tailDirty = false;
    this.active.endBytes = reach;
    this.active.allocatedBytes = Math.max(this.active.allocatedBytes, reach + zeros);
    this.recorder.bytesWritten += bytes;
  }

  private async sync(): Promise<void> {
    const startedMs = this.nowMs();
    try {
      await this.active.handle.datasync();
    } catch (error) {
      // The pages may be gone yet marked clean: nothing of the batch counts. ENOSPC (delayed
      // allocation) is a full disk; anything else leaves the storage failed until reopened.
      const failure = writeFailure(error, `fsync of ${this.active.info.name}`);
      throw failure.code === 'disk-full' ? failure : new StorageError('io-error', `${failure.message}; reopen the storage to recover`, { cause: error });
    } finally {
      this.recorder.fsync(this.nowMs() - startedMs);
    }
  }

  /** Cuts bytes a failed write may have left after the last synced record, and syncs the cut. */
  async cutTail(): Promise<void> {
    if (!this.tailDirty) return;
    try {
      await this.active.handle.truncate(this.active.endBytes);
      await this.active.handle.datasync();
    } catch (error) {
      throw writeFailure(error, `cutting the unsynced tail of ${this.active.info.name} at ${this.active.endBytes}`);
    }
    this.active.allocatedBytes = this.active.endBytes;
    this.tailDirty = false;
  }

  private async rotate(hardState: HardState): Promise<void> {
    const sequence = this.active.info.sequence + 1;
    let next: ActiveSegment;
    try {
      next = await createSegment(this.fs, this.dir, sequence, hardState);
    } catch (error) {
      throw writeFailure(error, `creating segment ${segmentName(sequence)}`);
    }
    const previous = this.active;
    this.active = next;
    this.segments.push(next.info);
    this.recorder.segmentsCreated++;
    await previous.handle.close().catch((error: unknown) => this.warn(`closing ${previous.info.name}: ${String(error)}`));
  }

  /**
   * Deletes the oldest segments whose records all lie at or below `index` (a snapshot covers them).
   * Only a prefix goes: a snapshot mark or a truncation in a kept segment must keep applying to what
   * precedes it. Returns how many went; the caller fsyncs the directory.
   */
  async removeCovered(index: number): Promise<number> {
    let removed = 0;
    while (this.segments.length > 1 && this.segments[0]!.coverageIndex <= index && this.segments[0] !== this.active.info) {
      const segment = this.segments[0]!;
      try {
        await this.fs.unlink(join(this.dir, segment.name));
      } catch (error) {
        this.warn(`removing ${segment.name}: ${String(error)}`);
        break;
      }
      this.segments.shift();
      removed++;
    }
    this.recorder.segmentsRemoved += removed;
    return removed;
  }

  async close(): Promise<void> {
    if (this.tailDirty) await this.cutTail().catch(() => {});
    await this.active.handle.close().catch(() => {});
  }
}
