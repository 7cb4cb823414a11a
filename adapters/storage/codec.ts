// The on-disk formats: WAL records and snapshot files.
//
// WAL record = 16-byte frame header + body:
//   0  u32 crc32c over body ++ header[4, 16)   (the body's CRC is computed once, at append time)
//   4  u32 body length in bytes (>= 1)
//   8  u48 batch start: the segment offset of the first record of the fsync batch it was written in
//   14 u16 magic 0x5257 ("WR")
// Body = u8 type, then
//   1 segment header: u32 format version, u64 segment sequence number, hard state
//   2 ready: u8 flags (1 = hard state, 2 = snapshot installed), [u64 index, u64 term],
//            u32 entry count, [u64 first index, entries: u64 term, u8 type, string data], [hard state]
//   hard state = u64 term, string-or-null vote, u64 commit
// The batch start lets recovery tell a torn tail (damage inside the last batch, which was never
// known to be synced) from damage in a synced region (some later batch exists, and batches are
// written only after the previous one's fsync completed).
//
// Snapshot file = "WRNSNAP1", u32 crc32c over bytes [16, end), u32 zero, then u64 index, u64 term,
// u32 count + voter ids, u32 count + learner ids, string data.
// Strings are tagged UTF-8 or UTF-16LE (bytes.ts), so every JavaScript string round-trips.

import type { ConfState, Entry, HardState, NodeId, Snapshot } from '../../core/raft/index.ts';
import { ByteReader, ByteWriter, DecodeError } from './bytes.ts';
import { crc32cFinish, crc32cInit, crc32cUpdate } from './crc32c.ts';

export const FORMAT_VERSION = 1;
export const FRAME_HEADER_BYTES = 16;
const RECORD_MAGIC = 0x5257;
const MAX_BATCH_START = 2 ** 48 - 1;
const TYPE_SEGMENT_HEADER = 1;
const TYPE_READY = 2;
const FLAG_HARD_STATE = 1;
const FLAG_SNAPSHOT = 2;
const ENTRY_NORMAL = 0;
const ENTRY_CONF = 1;
const SNAPSHOT_MAGIC = Buffer.from('WRNSNAP1', 'latin1');
const SNAPSHOT_HEADER_BYTES = 16;

export type WalRecord =
  | { readonly type: 'segment-header'; readonly version: number; readonly sequence: number; readonly hardState: HardState }
  | {
      readonly type: 'ready';
      readonly snapshot: { readonly index: number; readonly term: number } | null;
      readonly entries: readonly Entry[];
      readonly hardState: HardState | null;
    };

/** A record body ready to frame: its bytes and the CRC register over them. */
export interface EncodedBody {
  readonly body: Buffer;
  readonly crcRegister: number;
}

function sealed(writer: ByteWriter): EncodedBody {
  const body = writer.finish();
  return { body, crcRegister: crc32cUpdate(crc32cInit, body) };
}

function writeHardState(writer: ByteWriter, hardState: HardState): void {
  writer.u64(hardState.term);
  writer.string(hardState.vote);
  writer.u64(hardState.commit);
}

function readHardState(reader: ByteReader): HardState {
  const term = reader.u64('hard state term');
  const vote = reader.stringOrNull('hard state vote') as NodeId | null;
  const commit = reader.u64('hard state commit');
  return { term, vote, commit };
}

export function encodeSegmentHeader(sequence: number, hardState: HardState): EncodedBody {
  const writer = new ByteWriter(64);
  writer.u8(TYPE_SEGMENT_HEADER);
  writer.u32(FORMAT_VERSION);
  writer.u64(sequence);
  writeHardState(writer, hardState);
  return sealed(writer);
}

/**
 * Encodes one ready record: the snapshot mark first, then the entries, then the hard state, which
 * is also the order recovery applies them in. Entries must be contiguous.
 */
export function encodeReady(snapshot: { index: number; term: number } | null, entries: readonly Entry[], hardState: HardState | null): EncodedBody {
  const writer = new ByteWriter(64 + entries.length * 32);
  writer.u8(TYPE_READY);
  writer.u8((hardState ? FLAG_HARD_STATE : 0) | (snapshot ? FLAG_SNAPSHOT : 0));
  if (snapshot) {
    writer.u64(snapshot.index);
    writer.u64(snapshot.term);
  }
  writer.u32(entries.length);
  if (entries.length > 0) writer.u64(entries[0]!.index);
  for (const entry of entries) {
    writer.u64(entry.term);
    writer.u8(entry.type === 'conf' ? ENTRY_CONF : ENTRY_NORMAL);
    writer.string(entry.data);
  }
  if (hardState) writeHardState(writer, hardState);
  return sealed(writer);
}

export function decodeRecord(body: Uint8Array): WalRecord {
  const reader = new ByteReader(body);
  const type = reader.u8('record type');
  if (type === TYPE_SEGMENT_HEADER) {
    const version = reader.u32('format version');
    if (version !== FORMAT_VERSION) throw new DecodeError(`unsupported WAL format version ${version} (this build reads ${FORMAT_VERSION})`);
    const sequence = reader.u64('segment sequence');
    const hardState = readHardState(reader);
    reader.expectEnd('segment header');
    return { type: 'segment-header', version, sequence, hardState };
  }
  if (type !== TYPE_READY) throw new DecodeError(`unknown record type ${type}`);
  const flags = reader.u8('ready flags');
  if ((flags & ~(FLAG_HARD_STATE | FLAG_SNAPSHOT)) !== 0) throw new DecodeError(`unknown ready flags ${flags}`);
  const snapshot = flags & FLAG_SNAPSHOT ? { index: reader.u64('snapshot index'), term: reader.u64('snapshot term') } : null;
  const count = reader.u32('entry count');
  const entries: Entry[] = [];
  if (count > 0) {
    const first = reader.u64('first index');
    for (let i = 0; i < count; i++) {
      const term = reader.u64('entry term');
      const kind = reader.u8('entry type');
      if (kind !== ENTRY_NORMAL && kind !== ENTRY_CONF) throw new DecodeError(`unknown entry type ${kind}`);
      entries.push({ term, index: first + i, type: kind === ENTRY_CONF ? 'conf' : 'normal', data: reader.string('entry data') });
    }
  }
  const hardState = flags & FLAG_HARD_STATE ? readHardState(reader) : null;
  reader.expectEnd('ready record');
  return { type: 'ready', snapshot, entries, hardState };
}

/** Size of a framed record with this body. */
export function framedBytes(encoded: EncodedBody): number {
  return FRAME_HEADER_BYTES + encoded.body.length;
}

/** Writes header and body of one record into target at offset; returns the offset after it. */
export function frameRecord(target: Buffer, offset: number, encoded: EncodedBody, batchStart: number): number {
  if (batchStart > MAX_BATCH_START) throw new RangeError(`batch start ${batchStart} beyond 2^48`);
  target.writeUInt32LE(encoded.body.length, offset + 4);
  target.writeUIntLE(batchStart, offset + 8, 6);
  target.writeUInt16LE(RECORD_MAGIC, offset + 14);
  const crc = crc32cFinish(crc32cUpdate(encoded.crcRegister, target, offset + 4, offset + FRAME_HEADER_BYTES));
  target.writeUInt32LE(crc, offset);
  target.set(encoded.body, offset + FRAME_HEADER_BYTES);
  return offset + FRAME_HEADER_BYTES + encoded.body.length;
}

export type FrameRead =
  | { readonly ok: true; readonly bodyStart: number; readonly end: number; readonly batchStart: number }
  | { readonly ok: false; readonly reason: string };

/** Reads and checks the record framed at offset (length, magic, bounds, checksum). */
export function readFrame(bytes: Buffer, offset: number): FrameRead {
  if (offset + FRAME_HEADER_BYTES > bytes.length) {
    return { ok: false, reason: `incomplete record header (${bytes.length - offset} of ${FRAME_HEADER_BYTES} bytes)` };
  }
  const bodyBytes = bytes.readUInt32LE(offset + 4);
  const batchStart = bytes.readUIntLE(offset + 8, 6);
  if (bytes.readUInt16LE(offset + 14) !== RECORD_MAGIC) return { ok: false, reason: 'bad record magic' };
  if (bodyBytes === 0) return { ok: false, reason: 'empty record' };
  const end = offset + FRAME_HEADER_BYTES + bodyBytes;
  if (end > bytes.length) return { ok: false, reason: `record of ${bodyBytes} bytes runs past the end of the file` };
  if (batchStart > offset) return { ok: false, reason: `batch start ${batchStart} after the record` };
  const register = crc32cUpdate(crc32cUpdate(crc32cInit, bytes, offset + FRAME_HEADER_BYTES, end), bytes, offset + 4, offset + FRAME_HEADER_BYTES);
  if (crc32cFinish(register) !== bytes.readUInt32LE(offset)) return { ok: false, reason: 'checksum mismatch' };
  return { ok: true, bodyStart: offset + FRAME_HEADER_BYTES, end, batchStart };
}

export function encodeSnapshotFile(snapshot: Snapshot): Buffer {
  const writer = new ByteWriter(SNAPSHOT_HEADER_BYTES + 64 + snapshot.data.length);
  writer.raw(SNAPSHOT_MAGIC);
  writer.u32(0); // checksum, filled below
  writer.u32(0);
  writer.u64(snapshot.meta.index);
  writer.u64(snapshot.meta.term);
  writeIds(writer, snapshot.meta.conf.voters);
  writeIds(writer, snapshot.meta.conf.learners);
  writer.string(snapshot.data);
  const bytes = writer.finish();
  bytes.writeUInt32LE(crc32cFinish(crc32cUpdate(crc32cInit, bytes, SNAPSHOT_HEADER_BYTES)), SNAPSHOT_MAGIC.length);
  return bytes;
}

function writeIds(writer: ByteWriter, ids: readonly NodeId[]): void {
  writer.u32(ids.length);
  for (const id of ids) writer.string(id);
}

function readIds(reader: ByteReader, what: string): NodeId[] {
  const count = reader.u32(`${what} count`);
  if (count > reader.remainingBytes) throw new DecodeError(`${what} count ${count} exceeds the file`);
  const ids: NodeId[] = [];
  for (let i = 0; i < count; i++) ids.push(reader.string(what) as NodeId);
  return ids;
}

export function decodeSnapshotFile(bytes: Uint8Array): Snapshot {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < SNAPSHOT_HEADER_BYTES || !buffer.subarray(0, SNAPSHOT_MAGIC.length).equals(SNAPSHOT_MAGIC)) {
    throw new DecodeError('not a snapshot file (bad magic or too short)');
  }
  const stored = buffer.readUInt32LE(SNAPSHOT_MAGIC.length);
  const actual = crc32cFinish(crc32cUpdate(crc32cInit, buffer, SNAPSHOT_HEADER_BYTES));
  if (stored !== actual) throw new DecodeError(`snapshot checksum mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)})`);
  const reader = new ByteReader(buffer, SNAPSHOT_HEADER_BYTES);
  const index = reader.u64('snapshot index');
  const term = reader.u64('snapshot term');
  const conf: ConfState = { voters: readIds(reader, 'voter'), learners: readIds(reader, 'learner') };
  const data = reader.string('snapshot data');
  reader.expectEnd('snapshot file');
  return { meta: { index, term, conf }, data };
}
