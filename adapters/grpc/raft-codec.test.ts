// The Raft wire format: every message variant and any generated message reads back deep-equal, a
// frame keeps order, and damaged input (any truncation, trailing bytes, bad tags, overlong varints,
// unknown versions) is a WireDecodeError, never a wrong message or another exception.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeId, type Message } from '../../core/raft/index.ts';
import { decodeFrame, encodeFrame, encodeMessage, RAFT_WIRE_VERSION } from './raft-codec.ts';
import { arbMessage, everyVariant } from './testing.ts';
import { ByteReader, ByteWriter, WireDecodeError, WireEncodeError } from './wire.ts';

const a = nodeId('n1');
const b = nodeId('n2');

const roundTrip = (messages: readonly Message[]): Message[] => decodeFrame(encodeFrame(messages.map(encodeMessage)));

test('every message variant reads back deep-equal, in order, from one frame', () => {
  const messages = everyVariant(a, b, 7);
  assert.equal(new Set(messages.map((m) => m.type)).size, 13, 'the sample covers all 13 variants');
  assert.deepStrictEqual(roundTrip(messages), messages);
});

test('any message with any safe integers and any strings, lone surrogates included, round-trips', () => {
  fc.assert(
    fc.property(fc.array(arbMessage, { maxLength: 8 }), (messages) => {
      assert.deepStrictEqual(roundTrip(messages), messages);
    }),
    { numRuns: 500 },
  );
});

test('an empty frame is two bytes and decodes to no messages', () => {
  const frame = encodeFrame([]);
  assert.deepStrictEqual([...frame], [RAFT_WIRE_VERSION, 0]);
  assert.deepStrictEqual(decodeFrame(frame), []);
});

test('the binary form is compact: a heartbeat takes about a dozen bytes, far below its JSON', () => {
  const heartbeat: Message = { type: 'heartbeat', from: a, to: b, term: 12, commit: 3456, context: null };
  const bytes = encodeMessage(heartbeat).length;
  assert.ok(bytes <= 14, `heartbeat encoded in ${bytes} bytes`);
  assert.ok(bytes * 4 < JSON.stringify(heartbeat).length);
});

test('every truncation of a frame is a WireDecodeError', () => {
  const frame = encodeFrame(everyVariant(a, b, 3).slice(0, 8).map(encodeMessage));
  for (let length = 0; length < frame.length; length++) {
    assert.throws(() => decodeFrame(frame.subarray(0, length)), WireDecodeError, `truncated to ${length} of ${frame.length} bytes`);
  }
});

test('any damaged frame either decodes to well-formed messages or raises WireDecodeError, never another error', () => {
  const frame = encodeFrame(everyVariant(a, b, 3).map(encodeMessage));
  fc.assert(
    fc.property(fc.nat({ max: frame.length - 1 }), fc.integer({ min: 0, max: 255 }), (position, byte) => {
      const damaged = Buffer.from(frame);
      damaged[position] = byte;
      try {
        for (const message of decodeFrame(damaged)) assert.equal(typeof message.type, 'string');
      } catch (error) {
        assert.ok(error instanceof WireDecodeError, `position ${position} byte ${byte}: ${String(error)}`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('trailing bytes, a wrong version, an unknown type, a boolean byte of 2 and a short message length are refused', () => {
  const one = encodeMessage({ type: 'vote-resp', from: a, to: b, term: 1, reject: true });
  const frame = encodeFrame([one]);
  assert.throws(() => decodeFrame(Buffer.concat([frame, Buffer.from([0])])), /trailing bytes/);
  assert.throws(() => decodeFrame(Buffer.from([RAFT_WIRE_VERSION + 1, 0])), /unsupported raft wire version 2/);
  // Layout: version, count, length, type code, ...; the reject byte is the last one.
  const unknownType = Buffer.from(frame);
  unknownType[3] = 99;
  assert.throws(() => decodeFrame(unknownType), /unknown type code 99/);
  const badBool = Buffer.from(frame);
  badBool[badBool.length - 1] = 2;
  assert.throws(() => decodeFrame(badBool), /boolean byte 2/);
  const shortLength = Buffer.from(frame);
  shortLength[2] = shortLength[2]! - 1;
  assert.throws(() => decodeFrame(shortLength), WireDecodeError);
});

test('varints: boundaries round-trip; overlong, too long and beyond 2^53 are refused', () => {
  for (const value of [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32, 2 ** 49 - 1, 2 ** 49, Number.MAX_SAFE_INTEGER]) {
    const writer = new ByteWriter();
    writer.varint(value, 'v');
    const reader = new ByteReader(writer.finish());
    assert.equal(reader.varint('v'), value);
    reader.expectEnd('v');
  }
  assert.throws(() => new ByteReader(Buffer.from([0x80, 0x00])).varint('v'), /overlong/);
  assert.throws(() => new ByteReader(Buffer.alloc(9, 0xff)).varint('v'), /longer than 8 bytes/);
  assert.throws(() => new ByteReader(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])).varint('v'), /beyond 2\^53/);
});

test('a negative or fractional number cannot be encoded (the transport drops such a message as unencodable)', () => {
  assert.throws(() => encodeMessage({ type: 'vote-resp', from: a, to: b, term: -1, reject: true }), WireEncodeError);
  assert.throws(() => encodeMessage({ type: 'app-resp', from: a, to: b, term: 1, index: 1.5, reject: false, hintIndex: 0, hintTerm: 0 }), WireEncodeError);
});
