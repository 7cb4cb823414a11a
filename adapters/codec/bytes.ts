// What the binary formats of the adapters share (the WAL and snapshot files in adapters/storage,
// the Raft frames in adapters/grpc): a writer that grows its buffer, a reader bounded to its slice,
// and the one way a JavaScript string is stored exactly: UTF-8 when it is well-formed, UTF-16LE when
// it holds a lone surrogate (which UTF-8 would replace), so every string reads back identical.
// Each format adds its own integers and string headers on top and names its own decode error.
// Invariant: the reader never reads past its end; a short or malformed input raises the format's
// error, never a RangeError or a wrong value.

export const STRING_UTF8 = 0;
export const STRING_UTF16 = 1;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** How `value` is stored: its encoding tag and its length in bytes. */
export function exactEncoding(value: string): { readonly encoding: number; readonly byteLength: number } {
  const utf16 = LONE_SURROGATE.test(value);
  return { encoding: utf16 ? STRING_UTF16 : STRING_UTF8, byteLength: utf16 ? value.length * 2 : Buffer.byteLength(value, 'utf8') };
}

export class GrowableWriter {
  protected buffer: Buffer;
  protected length = 0;

  constructor(initialBytes: number) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  protected ensure(extraBytes: number): void {
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

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** The bytes of `value` in the encoding exactEncoding() chose (the format wrote the header). */
  protected stringBytes(value: string, encoding: number, byteLength: number): void {
    this.ensure(byteLength);
    this.buffer.write(value, this.length, byteLength, encoding === STRING_UTF16 ? 'utf16le' : 'utf8');
    this.length += byteLength;
  }
}

export class BoundedReader {
  protected position: number;
  protected readonly buffer: Buffer;

  constructor(bytes: Uint8Array, start: number, protected readonly end: number, protected readonly fail: (message: string) => Error) {
    this.buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.position = start;
  }

  get offset(): number {
    return this.position;
  }

  get remainingBytes(): number {
    return this.end - this.position;
  }

  protected need(bytes: number, what: string): void {
    if (this.position + bytes > this.end) {
      throw this.fail(`truncated ${what}: needs ${bytes} bytes at offset ${this.position}, ${this.end - this.position} left`);
    }
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buffer[this.position++]!;
  }

  /** A string's bytes in `encoding` (STRING_UTF8 or STRING_UTF16), after the format's header. */
  protected stringBytes(encoding: number, byteLength: number, what: string): string {
    if (encoding === STRING_UTF16 && byteLength % 2 !== 0) throw this.fail(`${what}: odd UTF-16 length ${byteLength}`);
    this.need(byteLength, what);
    const value = this.buffer.toString(encoding === STRING_UTF8 ? 'utf8' : 'utf16le', this.position, this.position + byteLength);
    this.position += byteLength;
    return value;
  }

  expectEnd(what: string): void {
    if (this.position !== this.end) throw this.fail(`${what}: ${this.end - this.position} trailing bytes at offset ${this.position}`);
  }
}
