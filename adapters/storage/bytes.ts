// Little-endian binary writer and reader for the WAL and snapshot codecs. Integers up to 2^53 - 1
// (indexes, terms) are stored as u64 in two u32 halves. Strings carry an encoding tag: UTF-8 when
// the string is well-formed UTF-16, otherwise UTF-16LE, so that any JavaScript string (even one with
// a lone surrogate) reads back identical. Invariant: the reader never reads past its end; a short or
// malformed input raises DecodeError, never a RangeError or a wrong value.

const TWO_POW_32 = 0x1_0000_0000;
const STRING_UTF8 = 0;
const STRING_UTF16 = 1;
const STRING_NULL = 2;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

export class ByteWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(initialBytes = 256) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  private ensure(extraBytes: number): void {
    if (this.length + extraBytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + extraBytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  get sizeBytes(): number {
    return this.length;
  }

  u8(value: number): void {
    this.ensure(1);
    this.buffer[this.length++] = value;
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
    const utf16 = LONE_SURROGATE.test(value);
    const byteLength = utf16 ? value.length * 2 : Buffer.byteLength(value, 'utf8');
    this.u8(utf16 ? STRING_UTF16 : STRING_UTF8);
    this.u32(byteLength);
    this.ensure(byteLength);
    this.buffer.write(value, this.length, byteLength, utf16 ? 'utf16le' : 'utf8');
    this.length += byteLength;
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** The bytes written so far (a view; the writer must not be used afterwards). */
  finish(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

export class ByteReader {
  private position: number;
  private readonly buffer: Buffer;

  constructor(bytes: Uint8Array, start = 0, private readonly end = bytes.length) {
    this.buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.position = start;
  }

  get offset(): number {
    return this.position;
  }

  get remainingBytes(): number {
    return this.end - this.position;
  }

  private need(bytes: number, what: string): void {
    if (this.position + bytes > this.end) {
      throw new DecodeError(`truncated ${what}: needs ${bytes} bytes at offset ${this.position}, ${this.end - this.position} left`);
    }
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buffer[this.position++]!;
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
    if (tag === STRING_UTF16 && byteLength % 2 !== 0) throw new DecodeError(`${what}: odd UTF-16 length ${byteLength}`);
    this.need(byteLength, what);
    const value = this.buffer.toString(tag === STRING_UTF8 ? 'utf8' : 'utf16le', this.position, this.position + byteLength);
    this.position += byteLength;
    return value;
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

  expectEnd(what: string): void {
    if (this.position !== this.end) throw new DecodeError(`${what}: ${this.end - this.position} trailing bytes at offset ${this.position}`);
  }
}
