// Reading one WAL segment back: the valid records in order, and what follows them.
// Batches are the unit of durability: the WAL writes batch N+1 only after batch N's fsync has
// completed, and every record carries the offset its batch started at. So when a record at offset X
// fails its checks, a valid record further on whose batch started after X proves that X lay in a
// batch that was synced: that is corruption of acknowledged data, a hard error. When no such record
// exists, the damage is inside the last batch, which was never known to be durable (its fsync had
// not completed, or the process died in the middle of writing it): a torn tail, safe to cut at X.
// A tail cut of a synced last batch (bit rot in the very last batch) cannot be told from a torn
// write by any single-copy log; Raft replication repairs it.

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
    if (problem !== null) return { records, validEnd: offset, tail: classify(bytes, offset, problem) };
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

/** Looks past a bad record at offset for a valid record of a later batch. */
function classify(bytes: Buffer, offset: number, reason: string): SegmentTail {
  for (let probe = offset + 1; probe + FRAME_HEADER_BYTES <= bytes.length; probe++) {
    const frame = readFrame(bytes, probe);
    if (frame.ok && frame.batchStart > offset) return { kind: 'corrupt', offset, reason, laterBatchAt: probe };
  }
  return { kind: 'torn', offset, reason };
}
