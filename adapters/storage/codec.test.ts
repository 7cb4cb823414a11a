// The record and snapshot-file formats: round trips of any content, every bit flip rejected, and the
// torn-versus-corrupt classification of a segment's damaged tail.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeId, type Entry, type HardState } from '../../core/raft/index.ts';
import { decodeRecord, decodeSnapshotFile, encodeReady, encodeSegmentHeader, encodeSnapshotFile, frameRecord, framedBytes, readFrame } from './codec.ts';
import { DecodeError } from './bytes.ts';
import { scanSegment } from './scan.ts';
import { hardState, makeEntries, snapshotAt } from './testing.ts';

const anyString = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ maxLength: 40 }));
const anyHardState: fc.Arbitrary<HardState> = fc.record({
  term: fc.maxSafeNat(),
  vote: fc.option(anyString.map(nodeId)),
  commit: fc.maxSafeNat(),
}).map((hs) => ({ ...hs }));
const anyEntries: fc.Arbitrary<Entry[]> = fc
  .tuple(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER - 100 }), fc.array(fc.tuple(fc.maxSafeNat(), fc.boolean(), anyString), { maxLength: 8 }))
  .map(([first, list]) => list.map(([term, conf, data], i) => ({ index: first + i, term, type: conf ? 'conf' : 'normal', data })));

function frame(body: ReturnType<typeof encodeReady>, batchStart = 0): Buffer {
  const bytes = Buffer.alloc(framedBytes(body));
  frameRecord(bytes, 0, body, batchStart);
  return bytes;
}

test('a ready record round-trips entries, hard state and snapshot mark, including strings with lone surrogates', () => {
  fc.assert(
    fc.property(anyEntries, fc.option(anyHardState), fc.option(fc.record({ index: fc.maxSafeNat(), term: fc.maxSafeNat() }).map((mark) => ({ ...mark }))), (entries, hs, mark) => {
      const bytes = frame(encodeReady(mark, entries, hs));
      const read = readFrame(bytes, 0);
      assert.ok(read.ok);
      assert.deepEqual(decodeRecord(bytes.subarray(read.bodyStart, read.end)), { type: 'ready', snapshot: mark, entries, hardState: hs });
    }),
  );
});

test('a segment header round-trips its sequence and hard state', () => {
  const body = encodeSegmentHeader(42, hardState(7, 3, 'n2'));
  const bytes = frame(body);
  const read = readFrame(bytes, 0);
  assert.ok(read.ok);
  assert.deepEqual(decodeRecord(bytes.subarray(read.bodyStart, read.end)), { type: 'segment-header', version: 1, sequence: 42, hardState: hardState(7, 3, 'n2') });
});

test('an entry costs a fixed 14 bytes plus its UTF-8 data, and a ready record 16 bytes of frame', () => {
  const one = encodeReady(null, makeEntries(1, 1, 1), null).body.length;
  const two = encodeReady(null, makeEntries(1, 2, 1), null).body.length;
  assert.equal(two - one, 14 + Buffer.byteLength('e2t1'));
  assert.equal(framedBytes(encodeReady(null, [], hardState(1, 0))) - encodeReady(null, [], hardState(1, 0)).body.length, 16);
});

test('every single-bit flip of a framed record is rejected by readFrame', () => {
  const bytes = frame(encodeReady({ index: 3, term: 2 }, makeEntries(4, 6, 2), hardState(2, 5, 'n1')), 0);
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    bytes[bit >> 3]! ^= 1 << (bit & 7);
    assert.equal(readFrame(bytes, 0).ok, false, `flip of bit ${bit} accepted`);
    bytes[bit >> 3]! ^= 1 << (bit & 7);
  }
  assert.equal(readFrame(bytes, 0).ok, true);
});

test('readFrame rejects a zeroed or truncated record and a batch start after the record', () => {
  const bytes = frame(encodeReady(null, makeEntries(1, 3, 1), null));
  assert.equal(readFrame(Buffer.alloc(64), 0).ok, false);
  assert.equal(readFrame(bytes.subarray(0, bytes.length - 1), 0).ok, false);
  assert.equal(readFrame(bytes.subarray(0, 10), 0).ok, false);
  const late = Buffer.alloc(bytes.length);
  frameRecord(late, 0, encodeReady(null, makeEntries(1, 3, 1), null), 5);
  const read = readFrame(late, 0);
  assert.equal(read.ok, false);
  assert.match(read.ok ? '' : read.reason, /batch start 5 after the record/);
});

test('a snapshot file round-trips and any damage to it is a DecodeError', () => {
  const snapshot = { ...snapshotAt(120, 4, 'x'.repeat(300) + '\ud800'), meta: { index: 120, term: 4, conf: { voters: [nodeId('a'), nodeId('b')], learners: [nodeId('c')] } } };
  const bytes = encodeSnapshotFile(snapshot);
  assert.deepEqual(decodeSnapshotFile(bytes), snapshot);
  for (const position of [0, 9, 16, 30, bytes.length - 1]) {
    const damaged = Buffer.from(bytes);
    damaged[position]! ^= 0x10;
    assert.throws(() => decodeSnapshotFile(damaged), DecodeError);
  }
  assert.throws(() => decodeSnapshotFile(bytes.subarray(0, bytes.length - 2)), DecodeError);
});

test('scanSegment tells a torn last batch from damage before a later batch', () => {
  const header = encodeSegmentHeader(1, hardState(0, 0));
  const first = encodeReady(null, makeEntries(1, 2, 1), null);
  const second = encodeReady(null, makeEntries(3, 4, 1), null);
  const third = encodeReady(null, makeEntries(5, 6, 1), null);
  const size = framedBytes(header) + framedBytes(first) + framedBytes(second) + framedBytes(third);
  const bytes = Buffer.alloc(size);
  let offset = frameRecord(bytes, 0, header, 0);
  const batch1 = offset;
  offset = frameRecord(bytes, offset, first, batch1);
  const secondAt = offset;
  offset = frameRecord(bytes, offset, second, batch1); // same batch as `first`
  const batch2 = offset;
  frameRecord(bytes, offset, third, batch2); // a batch of its own
  assert.deepEqual(scanSegment(bytes).tail, { kind: 'clean' });

  const damagedSecond = Buffer.from(bytes);
  damagedSecond[secondAt + 20]! ^= 1;
  const corrupt = scanSegment(damagedSecond).tail;
  assert.equal(corrupt.kind, 'corrupt', 'damage in batch 1 with batch 2 after it is synced data');
  assert.equal(corrupt.kind === 'corrupt' ? corrupt.offset : -1, secondAt);

  const damagedThird = Buffer.from(bytes);
  damagedThird[batch2 + 20]! ^= 1;
  assert.deepEqual(scanSegment(damagedThird).tail.kind, 'torn');

  // Within one batch a later record may survive while an earlier one was torn: still a torn tail.
  const tornInBatch = Buffer.from(bytes.subarray(0, batch2));
  tornInBatch.fill(0, batch1, batch1 + 10);
  const scan = scanSegment(tornInBatch);
  assert.equal(scan.tail.kind, 'torn');
  assert.equal(scan.validEnd, batch1);
});
