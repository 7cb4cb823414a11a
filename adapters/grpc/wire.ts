// Byte-level building blocks of the gRPC wire formats, on the adapters' shared byte layer
// (adapters/codec/bytes.ts): unsigned LEB128 varints for integers up to
// 2^53 - 1 (terms, indexes, lengths), booleans as one byte 0/1, and strings as a varint header
// (byte length * 2 + encoding) followed by the bytes. The encoding is UTF-8 for well-formed strings
// and UTF-16LE for a string holding a lone surrogate, so that every JavaScript string (Raft entry
// data is opaque) reads back identical. Invariant: the reader never reads past its end and never
// returns a wrong value; short, overlong or malformed input raises WireDecodeError.

import { BoundedReader, exactEncoding, GrowableWriter } from '../codec/bytes.ts';

/** 8 groups of 7 bits hold 56 bits, enough for any safe integer. */
const VARINT_MAX_BYTES = 8;

export class WireDecodeError extends Error {
  override readonly name = 'WireDecodeError';
}

/** Thrown when a value cannot be represented (a negative or fractional number). */
export class WireEncodeError extends Error {
  override readonly name = 'WireEncodeError';
}

export class ByteWriter extends GrowableWriter {
  constructor(initialBytes = 64) {
    super(initialBytes);
  }

  bool(value: boolean): void {
    this.u8(value ? 1 : 0);
  }

  varint(value: number, what: string): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new WireEncodeError(`${what} must be a non-negative safe integer, got ${value}`);
    this.ensure(VARINT_MAX_BYTES);
    let rest = value;
    while (rest >= 0x80) {
      this.buffer[this.length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.length++] = rest;
  }

  string(value: string): void {
    const { encoding, byteLength } = exactEncoding(value);
    this.varint(byteLength * 2 + encoding, 'string length');
    this.stringBytes(value, encoding, byteLength);
  }

  /** A string or null: a presence byte, then the string. */
  optionalString(value: string | null): void {
    this.bool(value !== null);
    if (value !== null) this.string(value);
  }

  /** The bytes written (a copy sized exactly, so a queue holding it keeps no slack). */
  finish(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.length));
  }
}

export class ByteReader extends BoundedReader {
  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    super(bytes, start, end, (message) => new WireDecodeError(message));
  }

  bool(what: string): boolean {
    const value = this.u8(what);
    if (value > 1) throw new WireDecodeError(`${what}: boolean byte ${value} at offset ${this.position - 1}`);
    return value === 1;
  }

  varint(what: string): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < VARINT_MAX_BYTES; i++) {
      const byte = this.u8(what);
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw new WireDecodeError(`${what}: varint beyond 2^53 at offset ${this.position}`);
        if (byte === 0 && i > 0) throw new WireDecodeError(`${what}: overlong varint at offset ${this.position}`);
        return value;
      }
      scale *= 0x80;
    }
    throw new WireDecodeError(`${what}: varint longer than ${VARINT_MAX_BYTES} bytes at offset ${this.position}`);
  }

  string(what: string): string {
    const header = this.varint(what);
    const encoding = header % 2;
    return this.stringBytes(encoding, (header - encoding) / 2, what);
  }

  optionalString(what: string): string | null {
    return this.bool(`${what} presence`) ? this.string(what) : null;
  }

  /** Moves past `bytes` bytes (checked). */
  skip(bytes: number, what: string): void {
    this.need(bytes, what);
    this.position += bytes;
  }

  expectOffset(offset: number, what: string): void {
    if (this.position !== offset) throw new WireDecodeError(`${what}: decoded up to offset ${this.position}, its length says ${offset}`);
  }

}
