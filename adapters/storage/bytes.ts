// Little-endian binary writer and reader for the WAL and snapshot codecs, on the adapters' shared
// byte layer (adapters/codec/bytes.ts). Integers up to 2^53 - 1 (indexes, terms) are stored as u64
// in two u32 halves. A string is an encoding tag byte (UTF-8, UTF-16LE, or null), a u32 byte length,
// then its bytes. Invariant: the reader never reads past its end; a short or malformed input raises
// DecodeError, never a RangeError or a wrong value.

import { BoundedReader, exactEncoding, GrowableWriter, STRING_UTF16, STRING_UTF8 } from '../codec/bytes.ts';

const TWO_POW_32 = 0x1_0000_0000;
const STRING_NULL = 2;

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

export class ByteWriter extends GrowableWriter {
  constructor(initialBytes = 256) {
    super(initialBytes);
  }

  u16(value: number): void {
    this.ensure(2);
    this.buffer.writeUInt16LE(value, this.length);
    this.length += 2;
  }

  u32(value: number): void {
    this.ensure(4);
    this.buffer.writeUInt32LE(value, this.length);
    this.length += 4;
  }

  u64(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`u64 out of range: ${value}`);
    this.u32(value % TWO_POW_32);
    this.u32(Math.floor(value / TWO_POW_32));
  }

  string(value: string | null): void {
    if (value === null) {
      this.u8(STRING_NULL);
      this.u32(0);
      return;
    }
    const { encoding, byteLength } = exactEncoding(value);
    this.u8(encoding);
    this.u32(byteLength);
    this.stringBytes(value, encoding, byteLength);
  }

  /** The bytes written so far (a view; the writer must not be used afterwards). */
  finish(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

export class ByteReader extends BoundedReader {
  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    super(bytes, start, end, (message) => new DecodeError(message));
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const value = this.buffer.readUInt16LE(this.position);
    this.position += 2;
    return value;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const value = this.buffer.readUInt32LE(this.position);
    this.position += 4;
    return value;
  }

  u64(what = 'u64'): number {
    const low = this.u32(what);
    const high = this.u32(what);
    const value = high * TWO_POW_32 + low;
    if (!Number.isSafeInteger(value)) throw new DecodeError(`${what} beyond 2^53: high word ${high}`);
    return value;
  }

  stringOrNull(what = 'string'): string | null {
    const tag = this.u8(what);
    const byteLength = this.u32(what);
    if (tag === STRING_NULL) {
      if (byteLength !== 0) throw new DecodeError(`${what}: null string with length ${byteLength}`);
      return null;
    }
    if (tag !== STRING_UTF8 && tag !== STRING_UTF16) throw new DecodeError(`${what}: unknown string encoding ${tag}`);
    return this.stringBytes(tag, byteLength, what);
  }

  string(what = 'string'): string {
    const value = this.stringOrNull(what);
    if (value === null) throw new DecodeError(`${what}: null where a string is required`);
    return value;
  }

  bytes(count: number, what = 'bytes'): Buffer {
    this.need(count, what);
    const view = this.buffer.subarray(this.position, this.position + count);
    this.position += count;
    return view;
  }
}
