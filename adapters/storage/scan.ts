// Reading one WAL segment back: the valid records in order, and what follows them.
// Batches are the unit of durability: the WAL writes batch N+1 only after batch N's fsync has
// completed, and every record carries the offset its batch started at. So when a record at offset X
// fails its checks, a valid record further on whose batch started after X proves that X lay in a
// batch that was synced: that is corruption of acknowledged data, a hard error. When no such record
// exists, the damage is inside the last batch, which was never known to be durable (its fsync had
// not completed, or the process died in the middle of writing it): a torn tail, safe to cut at X.
// A tail cut of a synced last batch (bit rot in the very last batch) cannot be told from a torn
// write by any single-copy log; Raft replication repairs it.
// Zeros after the last record are space the WAL allocated ahead (segment.ts), not damage: an
// all-zero rest is a clean end, and the search for a later batch stops at the last non-zero byte.

import { decodeRecord, FRAME_HEADER_BYTES, readFrame, type WalRecord } from './codec.ts';
import { DecodeError } from './bytes.ts';

export interface ScannedRecord {
  readonly offset: number;
  readonly end: number;
  readonly record: WalRecord;
}

export type SegmentTail =
  | { readonly kind: 'clean' }
  /** Damage inside the last batch: everything from offset on may be cut. */
  | { readonly kind: 'torn'; readonly offset: number; readonly reason: string }
  /** Damage before a later batch: synced data is bad. */
  | { readonly kind: 'corrupt'; readonly offset: number; readonly reason: string; readonly laterBatchAt: number };

export interface SegmentScan {
  readonly records: readonly ScannedRecord[];
  /** The offset just after the last valid record. */
  readonly validEnd: number;
  readonly tail: SegmentTail;
}

/** Parses records from offset 0 until the end or the first bad one, and classifies the rest. */
export function scanSegment(bytes: Buffer): SegmentScan {
  const records: ScannedRecord[] = [];
  let offset = 0;
  let batchStart = -1;
  while (offset < bytes.length) {
    const problem = recordAt(bytes, offset, batchStart, records);
    if (problem !== null) {
      const lastNonZero = lastNonZeroByte(bytes, offset);
      const tail: SegmentTail = lastNonZero < offset ? { kind: 'clean' } : classify(bytes, offset, lastNonZero, problem);
      return { records, validEnd: offset, tail };
    }
    const last = records[records.length - 1]!;
    batchStart = batchStartOf(bytes, offset);
    offset = last.end;
  }
  return { records, validEnd: offset, tail: { kind: 'clean' } };
}

function batchStartOf(bytes: Buffer, offset: number): number {
  return bytes.readUIntLE(offset + 8, 6);
}

/** Checks and decodes the record at offset, pushing it; returns the reason it is bad, or null. */
function recordAt(bytes: Buffer, offset: number, currentBatchStart: number, records: ScannedRecord[]): string | null {
  const frame = readFrame(bytes, offset);
  if (!frame.ok) return frame.reason;
  // A record either starts a batch (at its own offset) or continues the batch in progress.
  if (frame.batchStart !== offset && frame.batchStart !== currentBatchStart) {
    return `record claims batch start ${frame.batchStart}, but the batch in progress started at ${currentBatchStart}`;
  }
  let record: WalRecord;
  try {
    record = decodeRecord(bytes.subarray(frame.bodyStart, frame.end));
  } catch (error) {
    if (error instanceof DecodeError) return `undecodable record: ${error.message}`;
    throw error;
  }
  records.push({ offset, end: frame.end, record });
  return null;
}

const ZERO_CHUNK = Buffer.alloc(64 * 1024);

/** The index of the last byte at or after `from` that is not zero, or from - 1 when all are zero. */
export function lastNonZeroByte(bytes: Buffer, from: number): number {
  let end = bytes.length;
  while (end > from) {
    const start = Math.max(from, end - ZERO_CHUNK.length);
    if (!bytes.subarray(start, end).equals(ZERO_CHUNK.subarray(0, end - start))) {
      for (let i = end - 1; ; i--) if (bytes[i] !== 0) return i;
    }
    end = start;
  }
  return from - 1;
}

/** Looks past a bad record at offset, up to the last non-zero byte, for a valid record of a later batch. */
function classify(bytes: Buffer, offset: number, lastNonZero: number, reason: string): SegmentTail {
  for (let probe = offset + 1; probe <= lastNonZero && probe + FRAME_HEADER_BYTES <= bytes.length; probe++) {
    const frame = readFrame(bytes, probe);
    if (frame.ok && frame.batchStart > offset) return { kind: 'corrupt', offset, reason, laterBatchAt: probe };
  }
  return { kind: 'torn', offset, reason };
}
